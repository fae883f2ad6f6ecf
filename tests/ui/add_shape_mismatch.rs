use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        fc1: Linear<6, 5>,
        fc2: Linear<6, 4>,
        fc3: Linear<5, 3>,
    }

    impl Net {
        pub fn forward(&self, x: Input<6>) -> Logits<3> {
            let sum = self.fc1(x) + self.fc2(x);
            self.fc3(sum)
        }
    }
}

fn main() {}
