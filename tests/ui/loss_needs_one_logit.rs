use dpsgd::prelude::*;

#[private_model(loss = binary_logistic)]
mod net {
    pub struct Net {
        fc: Linear<104, 2>,
    }

    impl Net {
        pub fn forward(&self, x: Input<104>) -> Logits<2> {
            self.fc(x)
        }
    }
}

fn main() {}
