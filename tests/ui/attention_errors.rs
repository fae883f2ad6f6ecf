use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        embed: Embedding<10, 6>,
        narrow: Linear<6, 4>,
        fc: Linear<6, 2>,
    }

    impl Net {
        pub fn forward(&self, x: Tokens<8>) -> Logits<2> {
            let e = self.embed(x);
            let a = attention(e, e, e, 4);
            let b = attention(e, self.narrow(e), e, 2);
            let c = attention(mean(e), mean(e), mean(e), 1);
            let d = attention(e, e, e, 2, e);
            self.fc(mean(e))
        }
    }
}

fn main() {}
