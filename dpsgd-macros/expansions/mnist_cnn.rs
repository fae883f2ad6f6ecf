/// The CNN on MNIST: two strided convolutions with ReLU and 2x2 max pooling at stride
/// 1, then two dense layers (26010 parameters).
pub mod mnist_cnn {
    #[derive(Clone, Debug, PartialEq)]
    pub struct MnistCnn<F: dpsgd_runtime::Float = f32> {
        params: ::std::vec::Vec<F>,
    }
    /// Layout constants of the model, computed by `#[private_model]`.
    #[doc(hidden)]
    mod __plan {
        pub(super) const LAYER_CONV1: dpsgd_runtime::Conv2d = dpsgd_runtime::Conv2d {
            offset: 0usize,
            in_channels: 1usize,
            out_channels: 16usize,
            kernel: 8usize,
            stride: 2usize,
            pad_top: 3usize,
            pad_left: 3usize,
            in_h: 28usize,
            in_w: 28usize,
            out_h: 14usize,
            out_w: 14usize,
        };
        pub(super) const LAYER_CONV2: dpsgd_runtime::Conv2d = dpsgd_runtime::Conv2d {
            offset: 1040usize,
            in_channels: 16usize,
            out_channels: 32usize,
            kernel: 4usize,
            stride: 2usize,
            pad_top: 0usize,
            pad_left: 0usize,
            in_h: 13usize,
            in_w: 13usize,
            out_h: 5usize,
            out_w: 5usize,
        };
        pub(super) const LAYER_FC1: dpsgd_runtime::Dense = dpsgd_runtime::Dense {
            offset: 9264usize,
            inputs: 512usize,
            outputs: 32usize,
        };
        pub(super) const LAYER_FC2: dpsgd_runtime::Dense = dpsgd_runtime::Dense {
            offset: 25680usize,
            inputs: 32usize,
            outputs: 10usize,
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
                },
                dpsgd_runtime::ParamTensor {
                    name: "conv1.bias",
                    offset: 1024usize,
                    shape: &[16usize],
                    fan_in: 64usize,
                    transposed: false,
                },
                dpsgd_runtime::ParamTensor {
                    name: "conv2.weight",
                    offset: 1040usize,
                    shape: &[32usize, 16usize, 4usize, 4usize],
                    fan_in: 256usize,
                    transposed: false,
                },
                dpsgd_runtime::ParamTensor {
                    name: "conv2.bias",
                    offset: 9232usize,
                    shape: &[32usize],
                    fan_in: 256usize,
                    transposed: false,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc1.weight",
                    offset: 9264usize,
                    shape: &[512usize, 32usize],
                    fan_in: 512usize,
                    transposed: true,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc1.bias",
                    offset: 25648usize,
                    shape: &[32usize],
                    fan_in: 512usize,
                    transposed: false,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc2.weight",
                    offset: 25680usize,
                    shape: &[32usize, 10usize],
                    fan_in: 32usize,
                    transposed: true,
                },
                dpsgd_runtime::ParamTensor {
                    name: "fc2.bias",
                    offset: 26000usize,
                    shape: &[10usize],
                    fan_in: 32usize,
                    transposed: false,
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
                    layer: dpsgd_runtime::spec::Layer::Conv2d(LAYER_CONV1),
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
                    layer: dpsgd_runtime::spec::Layer::Conv2d(LAYER_CONV2),
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
                    layer: dpsgd_runtime::spec::Layer::Dense(LAYER_FC1),
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
                    layer: dpsgd_runtime::spec::Layer::Dense(LAYER_FC2),
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
        pub fn conv1(&self) -> dpsgd_runtime::spec::ConvView<'_, F> {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_CONV1, &self.params)
        }
        pub fn conv2(&self) -> dpsgd_runtime::spec::ConvView<'_, F> {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_CONV2, &self.params)
        }
        pub fn fc1(&self) -> dpsgd_runtime::spec::DenseView<'_, F> {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_FC1, &self.params)
        }
        pub fn fc2(&self) -> dpsgd_runtime::spec::DenseView<'_, F> {
            dpsgd_runtime::spec::ParamView::view(&__plan::LAYER_FC2, &self.params)
        }
    }
    impl<F: dpsgd_runtime::Float> dpsgd_runtime::PrivateModel<F> for MnistCnn<F> {
        const SPEC: dpsgd_runtime::ModelSpec = __plan::SPEC;
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
            engine
                .conv2d_forward(
                    __plan::LAYER_CONV1,
                    dpsgd_runtime::Buf::Input {
                        width: 784usize,
                    },
                    dpsgd_runtime::Buf::arena(0usize, 3136usize),
                );
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
            engine
                .conv2d_forward(
                    __plan::LAYER_CONV2,
                    dpsgd_runtime::Buf::arena(3136usize, 2704usize),
                    dpsgd_runtime::Buf::arena(5840usize, 800usize),
                );
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
            engine
                .dense_forward(
                    __plan::LAYER_FC1,
                    dpsgd_runtime::Buf::arena(7152usize, 512usize),
                    dpsgd_runtime::Buf::arena(7664usize, 32usize),
                );
            engine
                .activation_forward(
                    dpsgd_runtime::Activation::Relu,
                    dpsgd_runtime::Buf::arena(7664usize, 32usize),
                    dpsgd_runtime::Buf::arena(7696usize, 32usize),
                );
            engine
                .dense_forward(
                    __plan::LAYER_FC2,
                    dpsgd_runtime::Buf::arena(7696usize, 32usize),
                    dpsgd_runtime::Buf::arena(7728usize, 10usize),
                );
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
                .dense_backward_input(
                    __plan::LAYER_FC2,
                    dpsgd_runtime::Buf::arena(15466usize, 10usize),
                    dpsgd_runtime::Buf::arena(15434usize, 32usize),
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
                .dense_backward_input(
                    __plan::LAYER_FC1,
                    dpsgd_runtime::Buf::arena(15402usize, 32usize),
                    dpsgd_runtime::Buf::arena(14890usize, 512usize),
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
                .conv2d_backward_input(
                    __plan::LAYER_CONV2,
                    dpsgd_runtime::Buf::arena(13578usize, 800usize),
                    dpsgd_runtime::Buf::arena(10874usize, 2704usize),
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
        }
        fn run_sq_norms<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine.fill(dpsgd_runtime::Buf::arena(15477usize, 1usize), F::ZERO);
            engine
                .conv2d_add_sq_norms(
                    __plan::LAYER_CONV1,
                    dpsgd_runtime::Buf::Input {
                        width: 784usize,
                    },
                    dpsgd_runtime::Buf::arena(7738usize, 3136usize),
                    dpsgd_runtime::Buf::arena(15477usize, 1usize),
                    dpsgd_runtime::NormStrategy::Materialized,
                );
            engine
                .conv2d_add_sq_norms(
                    __plan::LAYER_CONV2,
                    dpsgd_runtime::Buf::arena(3136usize, 2704usize),
                    dpsgd_runtime::Buf::arena(13578usize, 800usize),
                    dpsgd_runtime::Buf::arena(15477usize, 1usize),
                    dpsgd_runtime::NormStrategy::Materialized,
                );
            engine
                .dense_add_sq_norms(
                    __plan::LAYER_FC1,
                    dpsgd_runtime::Buf::arena(7152usize, 512usize),
                    dpsgd_runtime::Buf::arena(15402usize, 32usize),
                    dpsgd_runtime::Buf::arena(15477usize, 1usize),
                );
            engine
                .dense_add_sq_norms(
                    __plan::LAYER_FC2,
                    dpsgd_runtime::Buf::arena(7696usize, 32usize),
                    dpsgd_runtime::Buf::arena(15466usize, 10usize),
                    dpsgd_runtime::Buf::arena(15477usize, 1usize),
                );
        }
        fn run_param_grads<E: dpsgd_runtime::Engine<F>>(
            engine: &mut E,
            weights: ::std::option::Option<dpsgd_runtime::Buf>,
        ) {
            engine
                .conv2d_param_grad(
                    __plan::LAYER_CONV1,
                    dpsgd_runtime::Buf::Input {
                        width: 784usize,
                    },
                    dpsgd_runtime::Buf::arena(7738usize, 3136usize),
                    weights,
                );
            engine
                .conv2d_param_grad(
                    __plan::LAYER_CONV2,
                    dpsgd_runtime::Buf::arena(3136usize, 2704usize),
                    dpsgd_runtime::Buf::arena(13578usize, 800usize),
                    weights,
                );
            engine
                .dense_param_grad(
                    __plan::LAYER_FC1,
                    dpsgd_runtime::Buf::arena(7152usize, 512usize),
                    dpsgd_runtime::Buf::arena(15402usize, 32usize),
                    weights,
                );
            engine
                .dense_param_grad(
                    __plan::LAYER_FC2,
                    dpsgd_runtime::Buf::arena(7696usize, 32usize),
                    dpsgd_runtime::Buf::arena(15466usize, 10usize),
                    weights,
                );
        }
        fn run_per_example_grads<E: dpsgd_runtime::Engine<F>>(engine: &mut E) {
            engine
                .conv2d_per_example_grads(
                    __plan::LAYER_CONV1,
                    dpsgd_runtime::Buf::Input {
                        width: 784usize,
                    },
                    dpsgd_runtime::Buf::arena(7738usize, 3136usize),
                );
            engine
                .conv2d_per_example_grads(
                    __plan::LAYER_CONV2,
                    dpsgd_runtime::Buf::arena(3136usize, 2704usize),
                    dpsgd_runtime::Buf::arena(13578usize, 800usize),
                );
            engine
                .dense_per_example_grads(
                    __plan::LAYER_FC1,
                    dpsgd_runtime::Buf::arena(7152usize, 512usize),
                    dpsgd_runtime::Buf::arena(15402usize, 32usize),
                );
            engine
                .dense_per_example_grads(
                    __plan::LAYER_FC2,
                    dpsgd_runtime::Buf::arena(7696usize, 32usize),
                    dpsgd_runtime::Buf::arena(15466usize, 10usize),
                );
        }
    }
}
