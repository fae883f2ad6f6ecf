//! The models of "Enabling Fast Differentially Private SGD via Just-in-Time
//! Compilation and Vectorization" (Subramani, Vadivelu, Kamath), written with
//! `#[private_model]`: each is a struct of layers and one per-example forward function.

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

pub use ffnn::Ffnn;
pub use logistic_regression::LogisticRegression;

/// The models by the names the command line and the benchmarks use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelName {
    LogisticRegression,
    Ffnn,
}

impl ModelName {
    pub const ALL: [ModelName; 2] = [ModelName::LogisticRegression, ModelName::Ffnn];

    /// The short name: `logreg`, `ffnn`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::LogisticRegression => "logreg",
            ModelName::Ffnn => "ffnn",
        }
    }

    /// The dataset the paper trains this model on.
    pub fn dataset(self) -> &'static str {
        match self {
            ModelName::LogisticRegression | ModelName::Ffnn => "adult",
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
