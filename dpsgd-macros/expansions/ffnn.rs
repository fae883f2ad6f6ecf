/// Feed-forward network on Adult: 104 -> 50 -> ReLU -> 2 (5352 parameters).
pub mod ffnn {
    /// The `Ffnn` model of this module, as `#[private_model]` generates it: its parameters in one flat vector, and the batched forward, backward and per-example gradient code of its `forward`.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Ffnn<F: dpsgd_runtime::Float = f32> {
        params: ::std::vec::Vec<F>,
    }
    /// Layout constants of the model, computed by `#[private_model]`.
    #[doc(hidden)]
    mod __plan {
        pub(super) const LAYER_FC1: dpsgd_runtime::contracts::Dense = dpsgd_runtime::contracts::Dense {
            offset: 0,
            inputs: 104,
            outputs: 50,
            positions: 1,
        };
        pub(super) const LAYER_FC2: dpsgd_runtime::contracts::Dense = dpsgd_runtime::contracts::Dense {
            offset: 5250,
            inputs: 50,
            outputs: 2,
            positions: 1,
        };
        pub(super) const SITE_FC1: dpsgd_runtime::Site = dpsgd_runtime::Site {
            x: dpsgd_runtime::Buf::Input {
                width: 104usize,
            },
            y: dpsgd_runtime::Buf::arena(0usize, 50usize),
            dy: dpsgd_runtime::Buf::arena(102usize, 50usize),
            state: ::std::option::Option::None,
        };
        pub(super) const SITE_FC2: dpsgd_runtime::Site = dpsgd_runtime::Site {
            x: dpsgd_runtime::Buf::arena(50usize, 50usize),
            y: dpsgd_runtime::Buf::arena(100usize, 2usize),
            dy: dpsgd_runtime::Buf::arena(202usize, 2usize),
            state: ::std::option::Option::None,
        };
        pub(super) const SPEC: dpsgd_runtime::ModelSpec = dpsgd_runtime::ModelSpec {
            name: "Ffnn",
            input_width: 104usize,
            outputs: 2usize,
            loss: dpsgd_runtime::Loss::SoftmaxCrossEntropy,
            num_params: 5352usize,
            params: &[
                dpsgd_runtime::ParamTensor {
                    name: "fc1.weight",
                    offset: 0usize,
                    shape: &[104usize, 50usize],
                    fan_in: 104usize,
                    transposed: true,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc1.bias",
                    offset: 5200usize,
                    shape: &[50usize],
                    fan_in: 104usize,
                    transposed: false,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc2.weight",
                    offset: 5250usize,
                    shape: &[50usize, 2usize],
                    fan_in: 50usize,
                    transposed: true,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc2.bias",
                    offset: 5350usize,
                    shape: &[2usize],
                    fan_in: 50usize,
                    transposed: false,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
            ],
            arena_width: 207usize,
            step_bytes_per_example: 828usize,
            forward_flops_per_example: 10600usize,
            max_layer_outputs: 50usize,
            logits: dpsgd_runtime::Buf::arena(100usize, 2usize),
            losses: dpsgd_runtime::Buf::arena(204usize, 1usize),
            sq_norms: dpsgd_runtime::Buf::arena(205usize, 1usize),
            clip_factors: dpsgd_runtime::Buf::arena(206usize, 1usize),
            layers: &[
                dpsgd_runtime::spec::LayerPlan {
                    name: "fc1",
                    kind: "Linear<104, 50>",
                    layer: dpsgd_runtime::contracts::Layer::Dense(LAYER_FC1),
                    input_shape: &[104usize],
                    output_shape: &[50usize],
                    positions: 1usize,
                    strategy: dpsgd_runtime::NormStrategy::Ghost,
                    ghost_flops: 10708usize,
                    materialized_flops: 31200usize,
                    ghost_bytes: 0usize,
                    materialized_bytes: 20800usize,
                },
                dpsgd_runtime::spec::LayerPlan {
                    name: "fc2",
                    kind: "Linear<50, 2>",
                    layer: dpsgd_runtime::contracts::Layer::Dense(LAYER_FC2),
                    input_shape: &[50usize],
                    output_shape: &[2usize],
                    positions: 1usize,
                    strategy: dpsgd_runtime::NormStrategy::Ghost,
                    ghost_flops: 304usize,
                    materialized_flops: 600usize,
                    ghost_bytes: 0usize,
                    materialized_bytes: 400usize,
                },
            ],
            pools: &[],
            attentions: &[],
            activations: &[dpsgd_runtime::Activation::Relu],
            token_vocab: ::std::option::Option::None,
        };
    }
    impl<F: dpsgd_runtime::Float> Ffnn<F> {
        /// Number of trainable parameters.
        pub const NUM_PARAMS: usize = 5352usize;
        ///
        /// Batched: the logits of every row of `features` (`[rows, inputs]`).
        pub fn forward(
            &self,
            features: dpsgd_runtime::ndarray::ArrayView2<'_, F>,
        ) -> dpsgd_runtime::Result<dpsgd_runtime::ndarray::Array2<F>> {
            <Self as dpsgd_runtime::PrivateModel<F>>::logits(self, features)
        }
        /// The parameters of layer `fc1` (`Linear<104, 50>`), viewed in place in the model's parameter vector.
        pub fn fc1(
            &self,
        ) -> <dpsgd_runtime::contracts::Dense as dpsgd_runtime::spec::ParamView>::View<
            '_,
            F,
        > {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_FC1, &self.params)
        }
        /// The parameters of layer `fc2` (`Linear<50, 2>`), viewed in place in the model's parameter vector.
        pub fn fc2(
            &self,
        ) -> <dpsgd_runtime::contracts::Dense as dpsgd_runtime::spec::ParamView>::View<
            '_,
            F,
        > {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_FC2, &self.params)
        }
    }
    impl<F: dpsgd_runtime::Float> dpsgd_runtime::PrivateModel<F> for Ffnn<F> {
        const SPEC: dpsgd_runtime::ModelSpec = __plan::SPEC;
        type WithFloat<G: dpsgd_runtime::Float> = Ffnn<G>;
        fn params(&self) -> &[F] {
            &self.params
        }
        fn params_mut(&mut self) -> &mut [F] {
            &mut self.params
        }
        fn from_params_unchecked(params: ::std::vec::Vec<F>) -> Self {
            assert_eq!(params.len(), 5352usize, "parameter vector of the wrong length");
            Ffnn { params }
        }
        fn run_forward<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine.layer_forward(__plan::LAYER_FC1, __plan::SITE_FC1);
            engine
                .activation_forward(
                    dpsgd_runtime::Activation::Relu,
                    dpsgd_runtime::Buf::arena(0usize, 50usize),
                    dpsgd_runtime::Buf::arena(50usize, 50usize),
                );
            engine.layer_forward(__plan::LAYER_FC2, __plan::SITE_FC2);
        }
        fn run_backward<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine
                .loss(
                    dpsgd_runtime::Loss::SoftmaxCrossEntropy,
                    dpsgd_runtime::Buf::arena(100usize, 2usize),
                    dpsgd_runtime::Buf::arena(204usize, 1usize),
                    dpsgd_runtime::Buf::arena(202usize, 2usize),
                );
            engine
                .layer_backward(
                    __plan::LAYER_FC2,
                    __plan::SITE_FC2,
                    ::std::option::Option::Some(
                        dpsgd_runtime::Buf::arena(152usize, 50usize),
                    ),
                    false,
                );
            engine
                .activation_backward(
                    dpsgd_runtime::Activation::Relu,
                    dpsgd_runtime::Buf::arena(0usize, 50usize),
                    dpsgd_runtime::Buf::arena(50usize, 50usize),
                    dpsgd_runtime::Buf::arena(152usize, 50usize),
                    dpsgd_runtime::Buf::arena(102usize, 50usize),
                    false,
                );
            engine
                .layer_backward(
                    __plan::LAYER_FC1,
                    __plan::SITE_FC1,
                    ::std::option::Option::None,
                    false,
                );
        }
        fn run_sq_norms<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine.fill(dpsgd_runtime::Buf::arena(205usize, 1usize), F::ZERO);
            engine
                .layer_add_sq_norms(
                    __plan::LAYER_FC1,
                    __plan::SITE_FC1,
                    dpsgd_runtime::Buf::arena(205usize, 1usize),
                    dpsgd_runtime::NormStrategy::Ghost,
                );
            engine
                .layer_add_sq_norms(
                    __plan::LAYER_FC2,
                    __plan::SITE_FC2,
                    dpsgd_runtime::Buf::arena(205usize, 1usize),
                    dpsgd_runtime::NormStrategy::Ghost,
                );
        }
        fn run_param_grads<E: dpsgd_runtime::Engine<F>>(
            engine: &mut E,
            weights: ::std::option::Option<dpsgd_runtime::Buf>,
        ) {
            engine.layer_param_grad(__plan::LAYER_FC1, __plan::SITE_FC1, weights);
            engine.layer_param_grad(__plan::LAYER_FC2, __plan::SITE_FC2, weights);
        }
        fn run_per_example_grads<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine.layer_per_example_grads(__plan::LAYER_FC1, __plan::SITE_FC1);
            engine.layer_per_example_grads(__plan::LAYER_FC2, __plan::SITE_FC2);
        }
    }
}
