use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        fc1: Linear<8, 8>,
        fc2: Linear<8, 2>,
    }

    impl Net {
        pub fn forward(&self, x: Input<8>) -> Logits<2> {
            let h = relu(self.fc1(x));
            let h = relu(self.fc1(h));
            self.fc2(h)
        }
    }
}

fn main() {}
