use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod uneven {
    pub struct Uneven {
        gn: GroupNorm<3, 8>,
        fc: Linear<8, 2>,
    }

    impl Uneven {
        pub fn forward(&self, x: Image<8, 1, 1>) -> Logits<2> {
            self.fc(flatten(self.gn(x)))
        }
    }
}

#[private_model(loss = softmax_cross_entropy)]
mod misapplied {
    pub struct Misapplied {
        gn: GroupNorm<2, 4>,
        ln: LayerNorm<6>,
        fc: Linear<4, 2>,
    }

    impl Misapplied {
        pub fn forward(&self, x: Input<4>) -> Logits<2> {
            let a = self.gn(x);
            let b = self.ln(x);
            self.fc(x)
        }
    }
}

fn main() {}
