use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        conv1: Conv2d<3, 4, 3, 1, Valid>,
        conv2: Conv2d<1, 4, 9, 1, Valid>,
        fc: Linear<64, 2>,
        fc2: Linear<2, 2>,
    }

    impl Net {
        pub fn forward(&self, x: Image<1, 8, 8>) -> Logits<2> {
            let a = self.conv1(x);
            let b = self.conv2(max_pool2d(x, 2, 2));
            let c = self.fc(x);
            let d = flatten(self.fc2(c));
            max_pool2d(d, 9, 1)
        }
    }
}

fn main() {}
