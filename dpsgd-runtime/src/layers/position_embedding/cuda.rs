//! Position embeddings do not run on the GPU yet: the CUDA engine refuses a model with
//! them when it is made.

crate::cuda::engine::not_on_the_gpu!(PositionEmbedding, "position embeddings");
