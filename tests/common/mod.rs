//! Models and data shared by the integration tests.
#![allow(dead_code)]

use dpsgd::prelude::*;
use dpsgd::runtime::ndarray::Array2;

/// Every operation of the language at once: three activations, `+`, a value used by
/// two consumers (so its gradient accumulates), and softmax cross-entropy.
#[private_model(loss = softmax_cross_entropy)]
pub mod every_op {
    pub struct EveryOp {
        fc1: Linear<5, 6>,
        fc2: Linear<5, 6>,
        fc3: Linear<6, 3>,
        fc4: Linear<6, 3>,
    }

    impl EveryOp {
        pub fn forward(&self, x: Input<5>) -> Logits<3> {
            let a = relu(self.fc1(x));
            let b = sigmoid(self.fc2(x));
            let c = tanh(a + b);
            self.fc3(c) + self.fc4(a)
        }
    }
}

/// One dense layer and the binary logistic loss.
#[private_model(loss = binary_logistic)]
pub mod binary {
    pub struct Binary {
        fc: Linear<7, 1>,
    }

    impl Binary {
        pub fn forward(&self, x: Input<7>) -> Logits<1> {
            self.fc(x)
        }
    }
}

/// A deeper stack: tanh and sigmoid between dense layers, binary logistic loss.
#[private_model(loss = binary_logistic)]
pub mod deep {
    pub struct Deep {
        fc1: Linear<4, 9>,
        // Named like the generated `SPEC` constant, on purpose.
        spec: Linear<9, 9>,
        fc3: Linear<9, 1>,
    }

    impl Deep {
        pub fn forward(&self, x: Input<4>) -> Logits<1> {
            let h = tanh(self.fc1(x));
            let h = sigmoid(self.spec(h));
            self.fc3(h)
        }
    }
}

/// The activations beyond the first three: leaky_relu, elu, gelu (exact and tanh) and
/// softplus, stacked.
#[private_model(loss = softmax_cross_entropy)]
pub mod more_activations {
    pub struct MoreActivations {
        fc1: Linear<5, 8>,
        fc2: Linear<8, 8>,
        fc3: Linear<8, 6>,
        fc4: Linear<6, 3>,
    }

    impl MoreActivations {
        pub fn forward(&self, x: Input<5>) -> Logits<3> {
            let h = leaky_relu(self.fc1(x));
            let h = gelu(elu(self.fc2(h)));
            self.fc4(softplus(gelu_tanh(self.fc3(h))))
        }
    }
}

/// Regression: three real outputs against three real targets, through a
/// convolution (so that a layer with both norm ways meets the loss) and dense layers.
#[private_model(loss = mean_squared_error)]
pub mod regression {
    pub struct Regression {
        conv: Conv2d<1, 2, 3, 1, Same>,
        fc1: Linear<32, 6>,
        fc2: Linear<6, 3>,
    }

    impl Regression {
        pub fn forward(&self, x: Image<1, 4, 4>) -> Logits<3> {
            let h = tanh(self.conv(x));
            self.fc2(gelu(self.fc1(flatten(h))))
        }
    }
}

/// Four 0/1 labels per example from token ids: an embedding, its mean, dense layers.
#[private_model(loss = multilabel_binary_logistic)]
pub mod multilabel {
    pub struct Multilabel {
        embed: Embedding<9, 4>,
        fc1: Linear<4, 5>,
        fc2: Linear<5, 4>,
    }

    impl Multilabel {
        pub fn forward(&self, x: Tokens<6>) -> Logits<4> {
            let h = mean(self.embed(x));
            self.fc2(relu(self.fc1(h)))
        }
    }
}

#[allow(unused_imports)]
pub use multilabel::Multilabel;
#[allow(unused_imports)]
pub use regression::Regression;

/// Convolutions with odd shapes (kernel larger than the stride, SAME padding with an
/// odd pixel, VALID), max and average pooling, and an image used twice.
#[private_model(loss = softmax_cross_entropy)]
pub mod small_cnn {
    pub struct SmallCnn {
        conv1: Conv2d<2, 3, 3, 2, Same>,
        conv2: Conv2d<3, 3, 2, 1, Valid>,
        fc: Linear<6, 3>,
    }

    impl SmallCnn {
        pub fn forward(&self, x: Image<2, 7, 6>) -> Logits<3> {
            let a = tanh(self.conv1(x));
            let m = max_pool2d(a, 2, 1);
            let v = avg_pool2d(a, 2, 2);
            let b = sigmoid(self.conv2(m));
            self.fc(flatten(b + v))
        }
    }
}

/// Max poolings of relus, which the macro fuses: at stride 2 (pooled row by row) and
/// at stride 1 (pooled full width), then one whose relu is also used otherwise.
#[private_model(loss = softmax_cross_entropy)]
pub mod relu_pools {
    pub struct ReluPools {
        conv1: Conv2d<2, 3, 3, 1, Same>,
        conv2: Conv2d<3, 2, 2, 1, Valid>,
        fc: Linear<8, 3>,
    }

    impl ReluPools {
        pub fn forward(&self, x: Image<2, 7, 6>) -> Logits<3> {
            let h = max_pool2d(relu(self.conv1(x)), 2, 2);
            let r = relu(self.conv2(h));
            let m = max_pool2d(r, 1, 1);
            self.fc(flatten(m + r))
        }
    }
}

#[allow(unused_imports)]
pub use binary::Binary;
#[allow(unused_imports)]
pub use deep::Deep;
#[allow(unused_imports)]
pub use every_op::EveryOp;
#[allow(unused_imports)]
pub use more_activations::MoreActivations;
/// Token ids looked up in a small table (so that tokens repeat within an example),
/// averaged over the sequence, then dense layers.
#[private_model(loss = softmax_cross_entropy)]
pub mod tiny_text {
    pub struct TinyText {
        embed: Embedding<7, 3>,
        fc1: Linear<3, 4>,
        fc2: Linear<4, 2>,
    }

    impl TinyText {
        pub fn forward(&self, x: Tokens<6>) -> Logits<2> {
            let e = tanh(self.embed(x));
            self.fc2(relu(self.fc1(mean(e))))
        }
    }
}

/// Token ids averaged straight after the lookup, which the macro fuses into one
/// lookup of the rows' mean (tokens repeat within an example).
#[private_model(loss = softmax_cross_entropy)]
pub mod tiny_bag {
    pub struct TinyBag {
        embed: Embedding<7, 3>,
        fc: Linear<3, 2>,
    }

    impl TinyBag {
        pub fn forward(&self, x: Tokens<6>) -> Logits<2> {
            self.fc(tanh(mean(self.embed(x))))
        }
    }
}

/// Looked-up rows averaged and also used otherwise: the lookup is not fused with the
/// mean.
#[private_model(loss = softmax_cross_entropy)]
pub mod rows_used_twice {
    pub struct RowsUsedTwice {
        embed: Embedding<7, 3>,
        fc: Linear<3, 2>,
    }

    impl RowsUsedTwice {
        pub fn forward(&self, x: Tokens<6>) -> Logits<2> {
            let e = self.embed(x);
            self.fc(mean(e) + mean(tanh(e)))
        }
    }
}

/// A sequence of one token.
#[private_model(loss = binary_logistic)]
pub mod one_token {
    pub struct OneToken {
        embed: Embedding<5, 2>,
        fc: Linear<2, 1>,
    }

    impl OneToken {
        pub fn forward(&self, x: Tokens<1>) -> Logits<1> {
            self.fc(mean(self.embed(x)))
        }
    }
}

/// Two stacked LSTMs over a short sequence (token ids repeat in it).
#[private_model(loss = softmax_cross_entropy)]
pub mod tiny_lstm {
    pub struct TinyLstm {
        embed: Embedding<7, 3>,
        lstm1: Lstm<3, 4>,
        lstm2: Lstm<4, 3>,
        fc: Linear<3, 2>,
    }

    impl TinyLstm {
        pub fn forward(&self, x: Tokens<5>) -> Logits<2> {
            let h = self.lstm2(tanh(self.lstm1(self.embed(x))));
            self.fc(mean(h))
        }
    }
}

/// An LSTM over a sequence of one step.
#[private_model(loss = binary_logistic)]
pub mod one_step_lstm {
    pub struct OneStepLstm {
        embed: Embedding<5, 2>,
        lstm: Lstm<2, 3>,
        fc: Linear<3, 1>,
    }

    impl OneStepLstm {
        pub fn forward(&self, x: Tokens<1>) -> Logits<1> {
            self.fc(mean(self.lstm(self.embed(x))))
        }
    }
}

#[allow(unused_imports)]
pub use one_step_lstm::OneStepLstm;
#[allow(unused_imports)]
pub use one_token::OneToken;
#[allow(unused_imports)]
pub use relu_pools::ReluPools;
#[allow(unused_imports)]
pub use rows_used_twice::RowsUsedTwice;
#[allow(unused_imports)]
pub use small_cnn::SmallCnn;
#[allow(unused_imports)]
pub use tiny_bag::TinyBag;
#[allow(unused_imports)]
pub use tiny_lstm::TinyLstm;
#[allow(unused_imports)]
pub use tiny_text::TinyText;

/// A deterministic batch for model `M` of class labels (`dpsgd::testing::batch`).
pub fn batch<F: Float, M: PrivateModel<F>>(rows: usize, seed: u64) -> (Array2<F>, Vec<u32>) {
    let (x, y) = dpsgd::testing::batch::<F, M>(rows, seed);
    (x, y.view().classes().expect("a model of class labels").to_vec())
}

/// A model with parameters scaled up so that some examples' gradients exceed any
/// small clipping norm.
pub fn model<F: Float, M: PrivateModel<F>>(seed: u64, scale: f64) -> M {
    let mut m = M::init(seed);
    for p in m.params_mut() {
        *p *= F::from_f64(scale);
    }
    m
}

pub fn norm(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Runs `$body` once for each test model and each paper model, with `$m` bound to the
/// model type in `$f`.
#[macro_export]
macro_rules! for_each_model {
    ($f:ty, $m:ident => $body:block) => {{
        {
            type $m = common::EveryOp<$f>;
            $body
        }
        {
            type $m = common::Binary<$f>;
            $body
        }
        {
            type $m = common::Deep<$f>;
            $body
        }
        {
            type $m = common::SmallCnn<$f>;
            $body
        }
        {
            type $m = common::ReluPools<$f>;
            $body
        }
        {
            type $m = common::TinyText<$f>;
            $body
        }
        {
            type $m = common::TinyBag<$f>;
            $body
        }
        {
            type $m = common::RowsUsedTwice<$f>;
            $body
        }
        {
            type $m = common::TinyLstm<$f>;
            $body
        }
        {
            type $m = common::OneStepLstm<$f>;
            $body
        }
        {
            type $m = dpsgd::models::LogisticRegression<$f>;
            $body
        }
        {
            type $m = dpsgd::models::Ffnn<$f>;
            $body
        }
    }};
}

/// Group normalization of the input (whose gradient nothing needs) and of a
/// convolution's output, through GELU.
#[private_model(loss = softmax_cross_entropy)]
pub mod grouped {
    pub struct Grouped {
        pub gn_in: GroupNorm<2, 4>,
        pub conv: Conv2d<4, 6, 3, 1, Same>,
        pub gn: GroupNorm<3, 6>,
        pub fc: Linear<120, 3>,
    }

    impl Grouped {
        pub fn forward(&self, x: Image<4, 5, 4>) -> Logits<3> {
            let h = self.gn(self.conv(self.gn_in(x)));
            self.fc(flatten(gelu(h)))
        }
    }
}

/// Layer normalization at every position of a sequence, and of a vector, with a
/// residual connection.
#[private_model(loss = softmax_cross_entropy)]
pub mod layer_normed {
    pub struct LayerNormed {
        pub embedding: Embedding<11, 4>,
        pub ln_positions: LayerNorm<4>,
        pub fc1: Linear<4, 4>,
        pub ln: LayerNorm<4>,
        pub fc2: Linear<4, 2>,
    }

    impl LayerNormed {
        pub fn forward(&self, x: Tokens<5>) -> Logits<2> {
            let h = mean(self.ln_positions(self.embedding(x)));
            let h = h + tanh(self.fc1(h));
            self.fc2(self.ln(h))
        }
    }
}

#[allow(unused_imports)]
pub use grouped::Grouped;
#[allow(unused_imports)]
pub use layer_normed::LayerNormed;

/// Weight-standardized convolutions, with and without padding, under a GroupNorm.
#[private_model(loss = softmax_cross_entropy)]
pub mod standardized {
    pub struct Standardized {
        pub conv1: Conv2d<2, 4, 3, 1, Same, Standardized>,
        pub gn: GroupNorm<2, 4>,
        pub conv2: Conv2d<4, 3, 3, 2, Valid, Standardized>,
        pub fc: Linear<18, 3>,
    }

    impl Standardized {
        pub fn forward(&self, x: Image<2, 7, 6>) -> Logits<3> {
            // Smooth activations: a standardized weight moves its whole channel, and
            // finite differences across a relu's kink would measure the kink.
            let h = gelu(self.gn(self.conv1(x)));
            self.fc(flatten(tanh(self.conv2(h))))
        }
    }
}

#[allow(unused_imports)]
pub use standardized::Standardized;

/// Token and position embeddings, then linear layers at every position of the
/// sequence, around a layer normalization.
#[private_model(loss = softmax_cross_entropy)]
pub mod per_position {
    pub struct PerPosition {
        pub embedding: Embedding<11, 4>,
        pub positions: PositionEmbedding<5, 4>,
        pub wide: Linear<4, 6>,
        pub ln: LayerNorm<6>,
        pub narrow: Linear<6, 3>,
        pub fc: Linear<3, 2>,
    }

    impl PerPosition {
        pub fn forward(&self, x: Tokens<5>) -> Logits<2> {
            let h = gelu(self.wide(self.positions(self.embedding(x))));
            let h = tanh(self.narrow(self.ln(h)));
            self.fc(mean(h))
        }
    }
}

#[allow(unused_imports)]
pub use per_position::PerPosition;

/// A pre-norm Transformer encoder block: token and position embeddings, multi-head
/// self-attention between per-position projections with a residual connection,
/// LayerNorm, a GELU MLP with a residual connection, the mean over positions.
#[private_model(loss = softmax_cross_entropy)]
pub mod tiny_transformer {
    pub struct TinyTransformer {
        pub embedding: Embedding<13, 8>,
        pub positions: PositionEmbedding<5, 8>,
        pub ln1: LayerNorm<8>,
        pub query: Linear<8, 8>,
        pub key: Linear<8, 8>,
        pub value: Linear<8, 8>,
        pub out: Linear<8, 8>,
        pub ln2: LayerNorm<8>,
        pub mlp1: Linear<8, 16>,
        pub mlp2: Linear<16, 8>,
        pub fc: Linear<8, 2>,
    }

    impl TinyTransformer {
        pub fn forward(&self, x: Tokens<5>) -> Logits<2> {
            let h = self.positions(self.embedding(x));
            let a = self.ln1(h);
            let h = h + self.out(attention(self.query(a), self.key(a), self.value(a), 2));
            let h = h + self.mlp2(gelu(self.mlp1(self.ln2(h))));
            self.fc(mean(h))
        }
    }
}

/// Attention with a padding mask over a vocabulary of three ids, so that about a
/// third of the keys are padding (id 0).
#[private_model(loss = softmax_cross_entropy)]
pub mod masked_attention {
    pub struct MaskedAttention {
        pub embedding: Embedding<3, 6>,
        pub positions: PositionEmbedding<5, 6>,
        pub query: Linear<6, 6>,
        pub key: Linear<6, 6>,
        pub value: Linear<6, 6>,
        pub fc: Linear<6, 2>,
    }

    impl MaskedAttention {
        pub fn forward(&self, x: Tokens<5>) -> Logits<2> {
            let h = self.positions(self.embedding(x));
            let a = attention(self.query(h), self.key(h), self.value(h), 2, x);
            self.fc(mean(tanh(a)))
        }
    }
}

#[allow(unused_imports)]
pub use masked_attention::MaskedAttention;

/// Attention whose queries, keys and values are one value: its three gradients add up.
#[private_model(loss = softmax_cross_entropy)]
pub mod shared_attention {
    pub struct SharedAttention {
        pub embedding: Embedding<13, 6>,
        pub fc: Linear<6, 3>,
    }

    impl SharedAttention {
        pub fn forward(&self, x: Tokens<4>) -> Logits<3> {
            let e = self.embedding(x);
            self.fc(mean(attention(e, e, e, 3)))
        }
    }
}

#[allow(unused_imports)]
pub use shared_attention::SharedAttention;
#[allow(unused_imports)]
pub use tiny_transformer::TinyTransformer;
