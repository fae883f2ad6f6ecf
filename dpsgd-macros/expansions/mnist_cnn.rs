/// The CNN on MNIST: two strided convolutions with ReLU and 2x2 max pooling at stride
/// 1, then two dense layers (26010 parameters).
pub mod mnist_cnn {
    /// The `MnistCnn` model of this module, as `#[private_model]` generates it: its parameters in one flat vector, and the batched forward, backward and per-example gradient code of its `forward`.
    #[derive(Clone, Debug, PartialEq)]
    pub struct MnistCnn<F: dpsgd_runtime::Float = f32> {
        params: ::std::vec::Vec<F>,
    }
    /// Layout constants of the model, computed by `#[private_model]`.
    #[doc(hidden)]
    mod __plan {
        pub(super) const LAYER_CONV1: dpsgd_runtime::contracts::Conv2d = dpsgd_runtime::contracts::Conv2d {
            offset: 0,
            in_channels: 1,
            out_channels: 16,
            kernel: 8,
            stride: 2,
            same: true,
            standardized: false,
            pad_top: 3,
            pad_left: 3,
            in_h: 28,
            in_w: 28,
            out_h: 14,
            out_w: 14,
        };
        pub(super) const LAYER_CONV2: dpsgd_runtime::contracts::Conv2d = dpsgd_runtime::contracts::Conv2d {
            offset: 1040,
            in_channels: 16,
            out_channels: 32,
            kernel: 4,
            stride: 2,
            same: false,
            standardized: false,
            pad_top: 0,
            pad_left: 0,
            in_h: 13,
            in_w: 13,
            out_h: 5,
            out_w: 5,
        };
        pub(super) const LAYER_FC1: dpsgd_runtime::contracts::Dense = dpsgd_runtime::contracts::Dense {
            offset: 9264,
            inputs: 512,
            outputs: 32,
            positions: 1,
        };
        pub(super) const LAYER_FC2: dpsgd_runtime::contracts::Dense = dpsgd_runtime::contracts::Dense {
            offset: 25680,
            inputs: 32,
            outputs: 10,
            positions: 1,
        };
        pub(super) const SITE_CONV1: dpsgd_runtime::Site = dpsgd_runtime::Site {
            x: dpsgd_runtime::Buf::Input {
                width: 784usize,
            },
            y: dpsgd_runtime::Buf::arena(0usize, 3136usize),
            dy: dpsgd_runtime::Buf::arena(7738usize, 3136usize),
            state: ::std::option::Option::None,
        };
        pub(super) const SITE_CONV2: dpsgd_runtime::Site = dpsgd_runtime::Site {
            x: dpsgd_runtime::Buf::arena(3136usize, 2704usize),
            y: dpsgd_runtime::Buf::arena(5840usize, 800usize),
            dy: dpsgd_runtime::Buf::arena(13578usize, 800usize),
            state: ::std::option::Option::None,
        };
        pub(super) const SITE_FC1: dpsgd_runtime::Site = dpsgd_runtime::Site {
            x: dpsgd_runtime::Buf::arena(7152usize, 512usize),
            y: dpsgd_runtime::Buf::arena(7664usize, 32usize),
            dy: dpsgd_runtime::Buf::arena(15402usize, 32usize),
            state: ::std::option::Option::None,
        };
        pub(super) const SITE_FC2: dpsgd_runtime::Site = dpsgd_runtime::Site {
            x: dpsgd_runtime::Buf::arena(7696usize, 32usize),
            y: dpsgd_runtime::Buf::arena(7728usize, 10usize),
            dy: dpsgd_runtime::Buf::arena(15466usize, 10usize),
            state: ::std::option::Option::None,
        };
        pub(super) const SPEC: dpsgd_runtime::ModelSpec = dpsgd_runtime::ModelSpec {
            name: "MnistCnn",
            input_width: 784usize,
            outputs: 10usize,
            loss: dpsgd_runtime::Loss::SoftmaxCrossEntropy,
            num_params: 26010usize,
            params: &[
                dpsgd_runtime::ParamTensor {
                    name: "conv1.weight",
                    offset: 0usize,
                    shape: &[16usize, 1usize, 8usize, 8usize],
                    fan_in: 64usize,
                    transposed: false,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "conv1.bias",
                    offset: 1024usize,
                    shape: &[16usize],
                    fan_in: 64usize,
                    transposed: false,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "conv2.weight",
                    offset: 1040usize,
                    shape: &[32usize, 16usize, 4usize, 4usize],
                    fan_in: 256usize,
                    transposed: false,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "conv2.bias",
                    offset: 9232usize,
                    shape: &[32usize],
                    fan_in: 256usize,
                    transposed: false,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc1.weight",
                    offset: 9264usize,
                    shape: &[512usize, 32usize],
                    fan_in: 512usize,
                    transposed: true,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc1.bias",
                    offset: 25648usize,
                    shape: &[32usize],
                    fan_in: 512usize,
                    transposed: false,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc2.weight",
                    offset: 25680usize,
                    shape: &[32usize, 10usize],
                    fan_in: 32usize,
                    transposed: true,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc2.bias",
                    offset: 26000usize,
                    shape: &[10usize],
                    fan_in: 32usize,
                    transposed: false,
                    init: dpsgd_runtime::contracts::Init::Uniform,
                },
            ],
            arena_width: 15479usize,
            step_bytes_per_example: 174556usize,
            forward_flops_per_example: 844416usize,
            max_layer_outputs: 32usize,
            logits: dpsgd_runtime::Buf::arena(7728usize, 10usize),
            losses: dpsgd_runtime::Buf::arena(15476usize, 1usize),
            sq_norms: dpsgd_runtime::Buf::arena(15477usize, 1usize),
            clip_factors: dpsgd_runtime::Buf::arena(15478usize, 1usize),
            layers: &[
                dpsgd_runtime::spec::LayerPlan {
                    name: "conv1",
                    kind: "Conv2d<1, 16, 8, 2, Same>",
                    layer: dpsgd_runtime::contracts::Layer::Conv2d(LAYER_CONV1),
                    input_shape: &[1usize, 28usize, 28usize],
                    output_shape: &[16usize, 14usize, 14usize],
                    positions: 196usize,
                    strategy: dpsgd_runtime::NormStrategy::Materialized,
                    ghost_flops: 6624800usize,
                    materialized_flops: 405504usize,
                    ghost_bytes: 357504usize,
                    materialized_bytes: 4096usize,
                },
                dpsgd_runtime::spec::LayerPlan {
                    name: "conv2",
                    kind: "Conv2d<16, 32, 4, 2, Valid>",
                    layer: dpsgd_runtime::contracts::Layer::Conv2d(LAYER_CONV2),
                    input_shape: &[16usize, 13usize, 13usize],
                    output_shape: &[32usize, 5usize, 5usize],
                    positions: 25usize,
                    strategy: dpsgd_runtime::NormStrategy::Materialized,
                    ghost_flops: 770850usize,
                    materialized_flops: 442368usize,
                    ghost_bytes: 30600usize,
                    materialized_bytes: 32768usize,
                },
                dpsgd_runtime::spec::LayerPlan {
                    name: "fc1",
                    kind: "Linear<512, 32>",
                    layer: dpsgd_runtime::contracts::Layer::Dense(LAYER_FC1),
                    input_shape: &[512usize],
                    output_shape: &[32usize],
                    positions: 1usize,
                    strategy: dpsgd_runtime::NormStrategy::Ghost,
                    ghost_flops: 33856usize,
                    materialized_flops: 98304usize,
                    ghost_bytes: 0usize,
                    materialized_bytes: 65536usize,
                },
                dpsgd_runtime::spec::LayerPlan {
                    name: "fc2",
                    kind: "Linear<32, 10>",
                    layer: dpsgd_runtime::contracts::Layer::Dense(LAYER_FC2),
                    input_shape: &[32usize],
                    output_shape: &[10usize],
                    positions: 1usize,
                    strategy: dpsgd_runtime::NormStrategy::Ghost,
                    ghost_flops: 724usize,
                    materialized_flops: 1920usize,
                    ghost_bytes: 0usize,
                    materialized_bytes: 1280usize,
                },
            ],
            pools: &[
                dpsgd_runtime::Pool2d {
                    kind: dpsgd_runtime::PoolKind::Max,
                    relu: true,
                    channels: 16usize,
                    in_h: 14usize,
                    in_w: 14usize,
                    window: 2usize,
                    stride: 1usize,
                    out_h: 13usize,
                    out_w: 13usize,
                },
                dpsgd_runtime::Pool2d {
                    kind: dpsgd_runtime::PoolKind::Max,
                    relu: true,
                    channels: 32usize,
                    in_h: 5usize,
                    in_w: 5usize,
                    window: 2usize,
                    stride: 1usize,
                    out_h: 4usize,
                    out_w: 4usize,
                },
            ],
            attentions: &[],
            activations: &[dpsgd_runtime::Activation::Relu],
            token_vocab: ::std::option::Option::None,
        };
    }
    impl<F: dpsgd_runtime::Float> MnistCnn<F> {
        /// Number of trainable parameters.
        pub const NUM_PARAMS: usize = 26010usize;
        ///
        /// Batched: the logits of every row of `features` (`[rows, inputs]`).
        pub fn forward(
            &self,
            features: dpsgd_runtime::ndarray::ArrayView2<'_, F>,
        ) -> dpsgd_runtime::Result<dpsgd_runtime::ndarray::Array2<F>> {
            <Self as dpsgd_runtime::PrivateModel<F>>::logits(self, features)
        }
        /// The parameters of layer `conv1` (`Conv2d<1, 16, 8, 2, Same>`), viewed in place in the model's parameter vector.
        pub fn conv1(
            &self,
        ) -> <dpsgd_runtime::contracts::Conv2d as dpsgd_runtime::spec::ParamView>::View<
            '_,
            F,
        > {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_CONV1, &self.params)
        }
        /// The parameters of layer `conv2` (`Conv2d<16, 32, 4, 2, Valid>`), viewed in place in the model's parameter vector.
        pub fn conv2(
            &self,
        ) -> <dpsgd_runtime::contracts::Conv2d as dpsgd_runtime::spec::ParamView>::View<
            '_,
            F,
        > {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_CONV2, &self.params)
        }
        /// The parameters of layer `fc1` (`Linear<512, 32>`), viewed in place in the model's parameter vector.
        pub fn fc1(
            &self,
        ) -> <dpsgd_runtime::contracts::Dense as dpsgd_runtime::spec::ParamView>::View<
            '_,
            F,
        > {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_FC1, &self.params)
        }
        /// The parameters of layer `fc2` (`Linear<32, 10>`), viewed in place in the model's parameter vector.
        pub fn fc2(
            &self,
        ) -> <dpsgd_runtime::contracts::Dense as dpsgd_runtime::spec::ParamView>::View<
            '_,
            F,
        > {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_FC2, &self.params)
        }
    }
    impl<F: dpsgd_runtime::Float> dpsgd_runtime::PrivateModel<F> for MnistCnn<F> {
        const SPEC: dpsgd_runtime::ModelSpec = __plan::SPEC;
        type WithFloat<G: dpsgd_runtime::Float> = MnistCnn<G>;
        fn params(&self) -> &[F] {
            &self.params
        }
        fn params_mut(&mut self) -> &mut [F] {
            &mut self.params
        }
        fn from_params_unchecked(params: ::std::vec::Vec<F>) -> Self {
            assert_eq!(params.len(), 26010usize, "parameter vector of the wrong length");
            MnistCnn { params }
        }
        fn run_forward<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine.layer_forward(__plan::LAYER_CONV1, __plan::SITE_CONV1);
            engine
                .pool2d_forward(
                    dpsgd_runtime::Pool2d {
                        kind: dpsgd_runtime::PoolKind::Max,
                        relu: true,
                        channels: 16usize,
                        in_h: 14usize,
                        in_w: 14usize,
                        window: 2usize,
                        stride: 1usize,
                        out_h: 13usize,
                        out_w: 13usize,
                    },
                    dpsgd_runtime::Buf::arena(0usize, 3136usize),
                    dpsgd_runtime::Buf::arena(3136usize, 2704usize),
                );
            engine.layer_forward(__plan::LAYER_CONV2, __plan::SITE_CONV2);
            engine
                .pool2d_forward(
                    dpsgd_runtime::Pool2d {
                        kind: dpsgd_runtime::PoolKind::Max,
                        relu: true,
                        channels: 32usize,
                        in_h: 5usize,
                        in_w: 5usize,
                        window: 2usize,
                        stride: 1usize,
                        out_h: 4usize,
                        out_w: 4usize,
                    },
                    dpsgd_runtime::Buf::arena(5840usize, 800usize),
                    dpsgd_runtime::Buf::arena(6640usize, 512usize),
                );
            engine
                .copy(
                    dpsgd_runtime::Buf::arena(6640usize, 512usize),
                    dpsgd_runtime::Buf::arena(7152usize, 512usize),
                    false,
                );
            engine.layer_forward(__plan::LAYER_FC1, __plan::SITE_FC1);
            engine
                .activation_forward(
                    dpsgd_runtime::Activation::Relu,
                    dpsgd_runtime::Buf::arena(7664usize, 32usize),
                    dpsgd_runtime::Buf::arena(7696usize, 32usize),
                );
            engine.layer_forward(__plan::LAYER_FC2, __plan::SITE_FC2);
        }
        fn run_backward<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine
                .loss(
                    dpsgd_runtime::Loss::SoftmaxCrossEntropy,
                    dpsgd_runtime::Buf::arena(7728usize, 10usize),
                    dpsgd_runtime::Buf::arena(15476usize, 1usize),
                    dpsgd_runtime::Buf::arena(15466usize, 10usize),
                );
            engine
                .layer_backward(
                    __plan::LAYER_FC2,
                    __plan::SITE_FC2,
                    ::std::option::Option::Some(
                        dpsgd_runtime::Buf::arena(15434usize, 32usize),
                    ),
                    false,
                );
            engine
                .activation_backward(
                    dpsgd_runtime::Activation::Relu,
                    dpsgd_runtime::Buf::arena(7664usize, 32usize),
                    dpsgd_runtime::Buf::arena(7696usize, 32usize),
                    dpsgd_runtime::Buf::arena(15434usize, 32usize),
                    dpsgd_runtime::Buf::arena(15402usize, 32usize),
                    false,
                );
            engine
                .layer_backward(
                    __plan::LAYER_FC1,
                    __plan::SITE_FC1,
                    ::std::option::Option::Some(
                        dpsgd_runtime::Buf::arena(14890usize, 512usize),
                    ),
                    false,
                );
            engine
                .copy(
                    dpsgd_runtime::Buf::arena(14890usize, 512usize),
                    dpsgd_runtime::Buf::arena(14378usize, 512usize),
                    false,
                );
            engine
                .pool2d_backward(
                    dpsgd_runtime::Pool2d {
                        kind: dpsgd_runtime::PoolKind::Max,
                        relu: true,
                        channels: 32usize,
                        in_h: 5usize,
                        in_w: 5usize,
                        window: 2usize,
                        stride: 1usize,
                        out_h: 4usize,
                        out_w: 4usize,
                    },
                    dpsgd_runtime::Buf::arena(5840usize, 800usize),
                    dpsgd_runtime::Buf::arena(14378usize, 512usize),
                    dpsgd_runtime::Buf::arena(13578usize, 800usize),
                    false,
                );
            engine
                .layer_backward(
                    __plan::LAYER_CONV2,
                    __plan::SITE_CONV2,
                    ::std::option::Option::Some(
                        dpsgd_runtime::Buf::arena(10874usize, 2704usize),
                    ),
                    false,
                );
            engine
                .pool2d_backward(
                    dpsgd_runtime::Pool2d {
                        kind: dpsgd_runtime::PoolKind::Max,
                        relu: true,
                        channels: 16usize,
                        in_h: 14usize,
                        in_w: 14usize,
                        window: 2usize,
                        stride: 1usize,
                        out_h: 13usize,
                        out_w: 13usize,
                    },
                    dpsgd_runtime::Buf::arena(0usize, 3136usize),
                    dpsgd_runtime::Buf::arena(10874usize, 2704usize),
                    dpsgd_runtime::Buf::arena(7738usize, 3136usize),
                    false,
                );
            engine
                .layer_backward(
                    __plan::LAYER_CONV1,
                    __plan::SITE_CONV1,
                    ::std::option::Option::None,
                    false,
                );
        }
        fn run_sq_norms<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine.fill(dpsgd_runtime::Buf::arena(15477usize, 1usize), F::ZERO);
            engine
                .layer_add_sq_norms(
                    __plan::LAYER_CONV1,
                    __plan::SITE_CONV1,
                    dpsgd_runtime::Buf::arena(15477usize, 1usize),
                    dpsgd_runtime::NormStrategy::Materialized,
                );
            engine
                .layer_add_sq_norms(
                    __plan::LAYER_CONV2,
                    __plan::SITE_CONV2,
                    dpsgd_runtime::Buf::arena(15477usize, 1usize),
                    dpsgd_runtime::NormStrategy::Materialized,
                );
            engine
                .layer_add_sq_norms(
                    __plan::LAYER_FC1,
                    __plan::SITE_FC1,
                    dpsgd_runtime::Buf::arena(15477usize, 1usize),
                    dpsgd_runtime::NormStrategy::Ghost,
                );
            engine
                .layer_add_sq_norms(
                    __plan::LAYER_FC2,
                    __plan::SITE_FC2,
                    dpsgd_runtime::Buf::arena(15477usize, 1usize),
                    dpsgd_runtime::NormStrategy::Ghost,
                );
        }
        fn run_param_grads<E: dpsgd_runtime::Engine<F>>(
            engine: &mut E,
            weights: ::std::option::Option<dpsgd_runtime::Buf>,
        ) {
            engine.layer_param_grad(__plan::LAYER_CONV1, __plan::SITE_CONV1, weights);
            engine.layer_param_grad(__plan::LAYER_CONV2, __plan::SITE_CONV2, weights);
            engine.layer_param_grad(__plan::LAYER_FC1, __plan::SITE_FC1, weights);
            engine.layer_param_grad(__plan::LAYER_FC2, __plan::SITE_FC2, weights);
        }
        fn run_per_example_grads<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine.layer_per_example_grads(__plan::LAYER_CONV1, __plan::SITE_CONV1);
            engine.layer_per_example_grads(__plan::LAYER_CONV2, __plan::SITE_CONV2);
            engine.layer_per_example_grads(__plan::LAYER_FC1, __plan::SITE_FC1);
            engine.layer_per_example_grads(__plan::LAYER_FC2, __plan::SITE_FC2);
        }
    }
}
