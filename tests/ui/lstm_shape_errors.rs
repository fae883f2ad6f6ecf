use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
mod net {
    pub struct Net {
        embed: Embedding<10, 4>,
        wide: Lstm<5, 3>,
        on_vector: Lstm<4, 3>,
        fc: Linear<3, 2>,
    }

    impl Net {
        pub fn forward(&self, x: Tokens<8>) -> Logits<2> {
            let e = self.embed(x);
            let a = self.wide(e);
            let b = self.on_vector(mean(e));
            self.fc(a)
        }
    }
}

fn main() {}
