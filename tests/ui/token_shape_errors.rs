use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        embed: Embedding<10, 4>,
        fc: Linear<8, 2>,
        fc2: Linear<4, 2>,
    }

    impl Net {
        pub fn forward(&self, x: Tokens<8>) -> Logits<2> {
            let a = self.fc(x);
            let b = relu(x);
            let e = self.embed(x);
            self.fc2(e)
        }
    }
}

fn main() {}
