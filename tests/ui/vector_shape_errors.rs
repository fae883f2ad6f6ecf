use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        fc: Linear<4, 4>,
        conv: Conv2d<1, 2, 1, 1, Same>,
    }

    impl Net {
        pub fn forward(&self, x: Input<4>) -> Logits<4> {
            let a = flatten(self.fc(x));
            let b = max_pool2d(x, 2, 1);
            let c = avg_pool2d(x, 2);
            self.conv(x)
        }
    }
}

fn main() {}
