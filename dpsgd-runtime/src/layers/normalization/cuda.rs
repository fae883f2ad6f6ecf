//! Normalizations do not run on the GPU yet: the CUDA engine refuses a model with one
//! when it is made.

crate::cuda::engine::not_on_the_gpu!(GroupNorm, "group normalizations");
crate::cuda::engine::not_on_the_gpu!(LayerNorm, "layer normalizations");
