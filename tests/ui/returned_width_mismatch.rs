use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        fc1: Linear<6, 5>,
    }

    impl Net {
        pub fn forward(&self, x: Input<6>) -> Logits<3> {
            tanh(self.fc1(x))
        }
    }
}

fn main() {}
