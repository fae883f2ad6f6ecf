use dpsgd::prelude::*;

#[private_model(loss = hinge)]
mod net {
    pub struct Net {
        attention: Attention<1, 16>,
        fc: Linear<6, 2>,
    }

    impl Net {
        pub fn forward(&self, x: Input<6>) -> Logits<2> {
            self.fc(x)
        }
    }
}

fn main() {}
