use dpsgd::prelude::*;

#[private_model(loss = binary_logistic)]
mod net {
    pub struct Net {
        fc1: Linear<8, 4>,
        fc2: Linear<4, 1>,
        extra: Linear<4, 4>,
    }

    impl Net {
        pub fn forward(&self, x: Input<8>) -> Logits<1> {
            let h = relu(self.fc1(x));
            let unused = sigmoid(h);
            self.fc2(h)
        }
    }
}

fn main() {}
