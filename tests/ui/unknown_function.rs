use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        fc1: Linear<4, 8>,
        fc2: Linear<8, 3>,
    }

    impl Net {
        pub fn forward(&self, x: Input<4>) -> Logits<3> {
            self.fc2(swish(self.fc1(x)))
        }
    }
}

fn main() {}
