use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        fc1: Linear<104, 50>,
        fc2: Linear<30, 2>,
    }

    impl Net {
        pub fn forward(&self, x: Input<104>) -> Logits<2> {
            self.fc2(relu(self.fc1(x)))
        }
    }
}

fn main() {}
