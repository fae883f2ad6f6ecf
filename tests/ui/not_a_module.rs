use dpsgd::prelude::*;

#[private_model(loss = softmax_cross_entropy)]
pub struct Net {
    fc: Linear<6, 2>,
}

fn main() {}
