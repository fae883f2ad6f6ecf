//! The models of "Enabling Fast Differentially Private SGD via Just-in-Time
//! Compilation and Vectorization" (Subramani, Vadivelu, Kamath), written with
//! `#[private_model]`: each is a struct of layers and one per-example forward function.

#![warn(missing_docs)]

use dpsgd_macros::private_model;

/// Logistic regression on Adult: 104 features, one logit (105 parameters).
#[private_model(loss = binary_logistic, crate = dpsgd_runtime)]
pub mod logistic_regression {
    pub struct LogisticRegression {
        pub fc: Linear<104, 1>,
    }

    impl LogisticRegression {
        pub fn forward(&self, x: Input<104>) -> Logits<1> {
            self.fc(x)
        }
    }
}

/// The privacy audit's canary model (`dpsgd audit`): logistic regression on 4096
/// inputs. Canary `i` is the input `K e_i` with label 0, whose gradient
/// `sigmoid(z) (K e_i, 1)` has a fixed direction whatever the parameters: clipped, it
/// is `C` times that unit vector, and only coordinate `i` of the weights (and the
/// shared bias) moves with it.
#[private_model(loss = binary_logistic, crate = dpsgd_runtime)]
pub mod audit_canaries {
    pub struct AuditCanaries {
        pub fc: Linear<4096, 1>,
    }

    impl AuditCanaries {
        pub fn forward(&self, x: Input<4096>) -> Logits<1> {
            self.fc(x)
        }
    }
}

/// Feed-forward network on Adult: 104 -> 50 -> ReLU -> 2 (5352 parameters).
#[private_model(loss = softmax_cross_entropy, crate = dpsgd_runtime)]
pub mod ffnn {
    pub struct Ffnn {
        pub fc1: Linear<104, 50>,
        pub fc2: Linear<50, 2>,
    }

    impl Ffnn {
        pub fn forward(&self, x: Input<104>) -> Logits<2> {
            self.fc2(relu(self.fc1(x)))
        }
    }
}

/// The CNN on MNIST: two strided convolutions with ReLU and 2x2 max pooling at stride
/// 1, then two dense layers (26010 parameters).
#[private_model(loss = softmax_cross_entropy, crate = dpsgd_runtime)]
pub mod mnist_cnn {
    pub struct MnistCnn {
        pub conv1: Conv2d<1, 16, 8, 2, Same>,
        pub conv2: Conv2d<16, 32, 4, 2, Valid>,
        pub fc1: Linear<512, 32>,
        pub fc2: Linear<32, 10>,
    }

    impl MnistCnn {
        pub fn forward(&self, x: Image<1, 28, 28>) -> Logits<10> {
            let h = max_pool2d(relu(self.conv1(x)), 2, 1);
            let h = max_pool2d(relu(self.conv2(h)), 2, 1);
            let h = relu(self.fc1(flatten(h)));
            self.fc2(h)
        }
    }
}

/// [`MnistCnn`] with tanh in place of ReLU, as Papernot et al. ("Tempered sigmoid
/// activations for deep learning with differential privacy") recommend for private
/// training.
#[private_model(loss = softmax_cross_entropy, crate = dpsgd_runtime)]
pub mod mnist_cnn_tanh {
    pub struct MnistCnnTanh {
        pub conv1: Conv2d<1, 16, 8, 2, Same>,
        pub conv2: Conv2d<16, 32, 4, 2, Valid>,
        pub fc1: Linear<512, 32>,
        pub fc2: Linear<32, 10>,
    }

    impl MnistCnnTanh {
        pub fn forward(&self, x: Image<1, 28, 28>) -> Logits<10> {
            let h = max_pool2d(tanh(self.conv1(x)), 2, 1);
            let h = max_pool2d(tanh(self.conv2(h)), 2, 1);
            let h = tanh(self.fc1(flatten(h)));
            self.fc2(h)
        }
    }
}

/// The CIFAR-10 network of Papernot et al. ("Tempered sigmoid activations for deep
/// learning with differential privacy"): 3x3 convolutions with tanh, average pooling,
/// and a mean over space for the logits (605226 parameters).
#[private_model(loss = softmax_cross_entropy, crate = dpsgd_runtime)]
pub mod cifar10_net {
    pub struct Cifar10Net {
        pub conv1: Conv2d<3, 32, 3, 1, Same>,
        pub conv2: Conv2d<32, 32, 3, 1, Same>,
        pub conv3: Conv2d<32, 64, 3, 1, Same>,
        pub conv4: Conv2d<64, 64, 3, 1, Same>,
        pub conv5: Conv2d<64, 128, 3, 1, Same>,
        pub conv6: Conv2d<128, 128, 3, 1, Same>,
        pub conv7: Conv2d<128, 256, 3, 1, Same>,
        pub conv8: Conv2d<256, 10, 3, 1, Same>,
    }

    impl Cifar10Net {
        pub fn forward(&self, x: Image<3, 32, 32>) -> Logits<10> {
            let h = tanh(self.conv2(tanh(self.conv1(x))));
            let h = avg_pool2d(h, 2, 2);
            let h = tanh(self.conv4(tanh(self.conv3(h))));
            let h = avg_pool2d(h, 2, 2);
            let h = tanh(self.conv6(tanh(self.conv5(h))));
            let h = avg_pool2d(h, 2, 2);
            let h = self.conv8(tanh(self.conv7(h)));
            flatten(avg_pool2d(h, 4, 4))
        }
    }
}

/// The embedding network on IMDB: 256 token ids of a 10004-id vocabulary, 16-wide
/// embeddings averaged over the review, then two dense layers (160370 parameters).
#[private_model(loss = softmax_cross_entropy, crate = dpsgd_runtime)]
pub mod embedding_net {
    pub struct EmbeddingNet {
        pub embedding: Embedding<10004, 16>,
        pub fc1: Linear<16, 16>,
        pub fc2: Linear<16, 2>,
    }

    impl EmbeddingNet {
        pub fn forward(&self, x: Tokens<256>) -> Logits<2> {
            let h = mean(self.embedding(x));
            self.fc2(relu(self.fc1(h)))
        }
    }
}

/// The LSTM network on IMDB: 256 token ids, 100-wide embeddings, an LSTM of 100 units
/// over the review, the mean of its outputs, and a dense layer to the two classes. It
/// has 1,081,402 parameters: PyTorch's LSTM has two bias vectors, where the paper's
/// (Haiku's) has one and 1,081,002.
#[private_model(loss = softmax_cross_entropy, crate = dpsgd_runtime)]
pub mod lstm_net {
    pub struct LstmNet {
        pub embedding: Embedding<10004, 100>,
        pub lstm: Lstm<100, 100>,
        pub fc: Linear<100, 2>,
    }

    impl LstmNet {
        pub fn forward(&self, x: Tokens<256>) -> Logits<2> {
            let h = self.lstm(self.embedding(x));
            self.fc(mean(h))
        }
    }
}

/// WRN-16-4 as De et al. ("Unlocking High-Accuracy Differentially Private Image
/// Classification through Scale", 2022) train it privately on CIFAR-10: a wide
/// residual network (Zagoruyko and Komodakis) of depth 16 and width 4, pre-activation
/// blocks, GroupNorm with 16 groups in place of batch normalization (whose statistics
/// mix the examples of a batch), three groups of two blocks at widths 64, 128 and
/// 256, the first block of a group changing the width (and the size, by stride 2)
/// with a 1x1 convolution on its shortcut, every convolution's weights standardized
/// as De et al. have them (2,751,146 parameters).
#[private_model(loss = softmax_cross_entropy, crate = dpsgd_runtime)]
pub mod wrn16_4 {
    pub struct Wrn16_4 {
        pub conv0: Conv2d<3, 16, 3, 1, Same, Standardized>,
        pub g1b1_gn1: GroupNorm<16, 16>,
        pub g1b1_conv1: Conv2d<16, 64, 3, 1, Same, Standardized>,
        pub g1b1_gn2: GroupNorm<16, 64>,
        pub g1b1_conv2: Conv2d<64, 64, 3, 1, Same, Standardized>,
        pub g1b1_shortcut: Conv2d<16, 64, 1, 1, Same, Standardized>,
        pub g1b2_gn1: GroupNorm<16, 64>,
        pub g1b2_conv1: Conv2d<64, 64, 3, 1, Same, Standardized>,
        pub g1b2_gn2: GroupNorm<16, 64>,
        pub g1b2_conv2: Conv2d<64, 64, 3, 1, Same, Standardized>,
        pub g2b1_gn1: GroupNorm<16, 64>,
        pub g2b1_conv1: Conv2d<64, 128, 3, 2, Same, Standardized>,
        pub g2b1_gn2: GroupNorm<16, 128>,
        pub g2b1_conv2: Conv2d<128, 128, 3, 1, Same, Standardized>,
        pub g2b1_shortcut: Conv2d<64, 128, 1, 2, Same, Standardized>,
        pub g2b2_gn1: GroupNorm<16, 128>,
        pub g2b2_conv1: Conv2d<128, 128, 3, 1, Same, Standardized>,
        pub g2b2_gn2: GroupNorm<16, 128>,
        pub g2b2_conv2: Conv2d<128, 128, 3, 1, Same, Standardized>,
        pub g3b1_gn1: GroupNorm<16, 128>,
        pub g3b1_conv1: Conv2d<128, 256, 3, 2, Same, Standardized>,
        pub g3b1_gn2: GroupNorm<16, 256>,
        pub g3b1_conv2: Conv2d<256, 256, 3, 1, Same, Standardized>,
        pub g3b1_shortcut: Conv2d<128, 256, 1, 2, Same, Standardized>,
        pub g3b2_gn1: GroupNorm<16, 256>,
        pub g3b2_conv1: Conv2d<256, 256, 3, 1, Same, Standardized>,
        pub g3b2_gn2: GroupNorm<16, 256>,
        pub g3b2_conv2: Conv2d<256, 256, 3, 1, Same, Standardized>,
        pub gn: GroupNorm<16, 256>,
        pub fc: Linear<256, 10>,
    }

    impl Wrn16_4 {
        pub fn forward(&self, x: Image<3, 32, 32>) -> Logits<10> {
            let h = self.conv0(x);

            let a = relu(self.g1b1_gn1(h));
            let h = self.g1b1_conv2(relu(self.g1b1_gn2(self.g1b1_conv1(a)))) + self.g1b1_shortcut(a);
            let a = relu(self.g1b2_gn1(h));
            let h = self.g1b2_conv2(relu(self.g1b2_gn2(self.g1b2_conv1(a)))) + h;

            let a = relu(self.g2b1_gn1(h));
            let h = self.g2b1_conv2(relu(self.g2b1_gn2(self.g2b1_conv1(a)))) + self.g2b1_shortcut(a);
            let a = relu(self.g2b2_gn1(h));
            let h = self.g2b2_conv2(relu(self.g2b2_gn2(self.g2b2_conv1(a)))) + h;

            let a = relu(self.g3b1_gn1(h));
            let h = self.g3b1_conv2(relu(self.g3b1_gn2(self.g3b1_conv1(a)))) + self.g3b1_shortcut(a);
            let a = relu(self.g3b2_gn1(h));
            let h = self.g3b2_conv2(relu(self.g3b2_gn2(self.g3b2_conv1(a)))) + h;

            self.fc(flatten(avg_pool2d(relu(self.gn(h)), 8, 8)))
        }
    }
}

/// A Transformer encoder on IMDB's shape, as private fine-tuning of language models
/// uses them (Li et al., "Large Language Models Can Be Strong Differentially Private
/// Learners", 2022), small: 256 token ids of a 10004-id vocabulary, token and learned
/// position embeddings of width 64, two pre-norm blocks of 4-head self-attention (with
/// a padding mask: no position attends to IMDB's padding, id 0) and a GELU MLP of 256, each with a residual connection, a final LayerNorm, the mean over
/// positions and a dense layer to the two classes (756,866 parameters).
#[private_model(loss = softmax_cross_entropy, crate = dpsgd_runtime)]
pub mod text_transformer {
    pub struct TextTransformer {
        pub embedding: Embedding<10004, 64>,
        pub positions: PositionEmbedding<256, 64>,
        pub b1_ln1: LayerNorm<64>,
        pub b1_query: Linear<64, 64>,
        pub b1_key: Linear<64, 64>,
        pub b1_value: Linear<64, 64>,
        pub b1_out: Linear<64, 64>,
        pub b1_ln2: LayerNorm<64>,
        pub b1_mlp1: Linear<64, 256>,
        pub b1_mlp2: Linear<256, 64>,
        pub b2_ln1: LayerNorm<64>,
        pub b2_query: Linear<64, 64>,
        pub b2_key: Linear<64, 64>,
        pub b2_value: Linear<64, 64>,
        pub b2_out: Linear<64, 64>,
        pub b2_ln2: LayerNorm<64>,
        pub b2_mlp1: Linear<64, 256>,
        pub b2_mlp2: Linear<256, 64>,
        pub ln: LayerNorm<64>,
        pub fc: Linear<64, 2>,
    }

    impl TextTransformer {
        pub fn forward(&self, x: Tokens<256>) -> Logits<2> {
            let h = self.positions(self.embedding(x));

            let a = self.b1_ln1(h);
            let h = h + self.b1_out(attention(self.b1_query(a), self.b1_key(a), self.b1_value(a), 4, x));
            let h = h + self.b1_mlp2(gelu(self.b1_mlp1(self.b1_ln2(h))));

            let a = self.b2_ln1(h);
            let h = h + self.b2_out(attention(self.b2_query(a), self.b2_key(a), self.b2_value(a), 4, x));
            let h = h + self.b2_mlp2(gelu(self.b2_mlp1(self.b2_ln2(h))));

            self.fc(mean(self.ln(h)))
        }
    }
}

pub use audit_canaries::AuditCanaries;
pub use cifar10_net::Cifar10Net;
pub use embedding_net::EmbeddingNet;
pub use ffnn::Ffnn;
pub use logistic_regression::LogisticRegression;
pub use lstm_net::LstmNet;
pub use mnist_cnn::MnistCnn;
pub use mnist_cnn_tanh::MnistCnnTanh;
pub use text_transformer::TextTransformer;
pub use wrn16_4::Wrn16_4;

/// The models by the names the command line and the benchmarks use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelName {
    /// [`LogisticRegression`], `logreg`: Adult.
    LogisticRegression,
    /// [`Ffnn`], `ffnn`: Adult.
    Ffnn,
    /// [`MnistCnn`], `mnist-cnn`: MNIST.
    MnistCnn,
    /// [`MnistCnnTanh`], `mnist-cnn-tanh`: MNIST.
    MnistCnnTanh,
    /// [`Cifar10Net`], `cifar10`: CIFAR-10.
    Cifar10Net,
    /// [`EmbeddingNet`], `embed`: IMDB.
    EmbeddingNet,
    /// [`LstmNet`], `lstm`: IMDB.
    LstmNet,
    /// [`Wrn16_4`], `wrn16-4`: CIFAR-10.
    Wrn16_4,
    /// [`TextTransformer`], `transformer`: IMDB.
    TextTransformer,
}

impl ModelName {
    /// Every model, in the order the command line lists them. The audit's
    /// [`AuditCanaries`] is not among them: only `dpsgd audit` trains it.
    pub const ALL: [ModelName; 9] = [
        ModelName::LogisticRegression,
        ModelName::Ffnn,
        ModelName::MnistCnn,
        ModelName::MnistCnnTanh,
        ModelName::Cifar10Net,
        ModelName::EmbeddingNet,
        ModelName::LstmNet,
        ModelName::Wrn16_4,
        ModelName::TextTransformer,
    ];

    /// The short name: `logreg`, `ffnn`, `mnist-cnn`, `mnist-cnn-tanh`, `cifar10`, `embed`,
    /// `lstm`, `wrn16-4`, `transformer`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::LogisticRegression => "logreg",
            ModelName::Ffnn => "ffnn",
            ModelName::MnistCnn => "mnist-cnn",
            ModelName::MnistCnnTanh => "mnist-cnn-tanh",
            ModelName::Cifar10Net => "cifar10",
            ModelName::EmbeddingNet => "embed",
            ModelName::LstmNet => "lstm",
            ModelName::Wrn16_4 => "wrn16-4",
            ModelName::TextTransformer => "transformer",
        }
    }

    /// The dataset the paper trains this model on.
    pub fn dataset(self) -> &'static str {
        match self {
            ModelName::LogisticRegression | ModelName::Ffnn => "adult",
            ModelName::MnistCnn | ModelName::MnistCnnTanh => "mnist",
            ModelName::Cifar10Net | ModelName::Wrn16_4 => "cifar10",
            ModelName::EmbeddingNet | ModelName::LstmNet | ModelName::TextTransformer => "imdb",
        }
    }

    /// Training examples in that dataset: one epoch.
    pub fn train_examples(self) -> usize {
        match self.dataset() {
            "adult" => 30162,
            "cifar10" => 50000,
            "imdb" => 25000,
            _ => 60000,
        }
    }
}

impl std::str::FromStr for ModelName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ModelName::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = ModelName::ALL.iter().map(|m| m.as_str()).collect();
            format!("unknown model `{s}`; available: {}", names.join(", "))
        })
    }
}

impl std::fmt::Display for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Runs `$body` with `$model` bound to the model type (in `f32`) that `$name` names:
/// `with_model!(name, M => train::<M>())`.
#[macro_export]
macro_rules! with_model {
    ($name:expr, $model:ident => $body:expr) => {
        $crate::with_model!($name, f32, $model => $body)
    };
    ($name:expr, $float:ty, $model:ident => $body:expr) => {
        match $name {
            $crate::ModelName::LogisticRegression => {
                type $model = $crate::LogisticRegression<$float>;
                $body
            }
            $crate::ModelName::Ffnn => {
                type $model = $crate::Ffnn<$float>;
                $body
            }
            $crate::ModelName::MnistCnn => {
                type $model = $crate::MnistCnn<$float>;
                $body
            }
            $crate::ModelName::MnistCnnTanh => {
                type $model = $crate::MnistCnnTanh<$float>;
                $body
            }
            $crate::ModelName::Cifar10Net => {
                type $model = $crate::Cifar10Net<$float>;
                $body
            }
            $crate::ModelName::EmbeddingNet => {
                type $model = $crate::EmbeddingNet<$float>;
                $body
            }
            $crate::ModelName::LstmNet => {
                type $model = $crate::LstmNet<$float>;
                $body
            }
            $crate::ModelName::Wrn16_4 => {
                type $model = $crate::Wrn16_4<$float>;
                $body
            }
            $crate::ModelName::TextTransformer => {
                type $model = $crate::TextTransformer<$float>;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpsgd_runtime::PrivateModel;

    #[test]
    fn the_models_have_the_papers_parameter_counts() {
        assert_eq!(LogisticRegression::<f32>::num_params(), 105);
        assert_eq!(Ffnn::<f32>::num_params(), 5352);
        assert_eq!(MnistCnn::<f32>::num_params(), 26010);
        assert_eq!(MnistCnnTanh::<f32>::num_params(), 26010);
        assert_eq!(Cifar10Net::<f32>::num_params(), 605_226);
        assert_eq!(EmbeddingNet::<f32>::num_params(), 160_370);
        assert_eq!(LstmNet::<f32>::num_params(), 1_081_402);
        assert_eq!(Wrn16_4::<f32>::num_params(), 2_751_146);
        assert_eq!(TextTransformer::<f32>::num_params(), 756_866);
        let lstm: Vec<_> = LstmNet::<f32>::SPEC.params.iter().map(|p| (p.name, p.shape)).collect();
        assert_eq!(lstm[1], ("lstm.weight_ih_l0", &[100, 400][..]));
        assert_eq!(lstm[2], ("lstm.weight_hh_l0", &[100, 400][..]));
        assert_eq!(lstm[3], ("lstm.bias_ih_l0", &[400][..]));
        assert_eq!(lstm[4], ("lstm.bias_hh_l0", &[400][..]));
        let conv: Vec<_> = MnistCnn::<f32>::SPEC.params.iter().map(|p| (p.name, p.shape)).collect();
        assert_eq!(conv[0], ("conv1.weight", &[16, 1, 8, 8][..]));
        assert_eq!(conv[2], ("conv2.weight", &[32, 16, 4, 4][..]));
        let names: Vec<_> = Ffnn::<f32>::SPEC.params.iter().map(|p| (p.name, p.shape)).collect();
        assert_eq!(
            names,
            [
                ("fc1.weight", &[104, 50][..]),
                ("fc1.bias", &[50][..]),
                ("fc2.weight", &[50, 2][..]),
                ("fc2.bias", &[2][..])
            ]
        );
        for name in ModelName::ALL {
            assert_eq!(name.as_str().parse::<ModelName>(), Ok(name));
        }
        assert!("cnn".parse::<ModelName>().is_err());
    }
}
