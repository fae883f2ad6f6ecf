//! Steady-state training steps allocate nothing: counted by a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use dpsgd::models::{Cifar10Net, EmbeddingNet, Ffnn, LogisticRegression, LstmNet, MnistCnn};
use dpsgd::prelude::*;
use dpsgd::runtime::gemm::Products;
use dpsgd::runtime::train::Trainer;

/// Counts the allocations of every thread: the one that takes the steps, the thread
/// pool's workers and the noise thread. (This file holds one test, so no other test
/// allocates while the steps run.)
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations in the first and second halves of `2 * half` steps after the first,
/// taken on a worker of a thread pool of their own, as `dpsgd` takes them (see
/// `train_on_this_thread`): a thread outside the pool allocates as it hands the pool
/// work.
/// One pool for every run: a pool dropped between runs would end its threads while the
/// next run counts, and a thread's exit allocates (crossbeam's epoch bookkeeping).
fn allocations_after_first_step<M: PrivateModel<f32>>(privacy: Option<Privacy>, half: usize) -> (usize, usize) {
    allocations_with::<M>(privacy, half, Products::F32, MOMENTUM)
}

/// SGD with momentum: every coordinate's noise is drawn at every step.
const MOMENTUM: f64 = 0.9;

fn allocations_with<M: PrivateModel<f32>>(
    privacy: Option<Privacy>,
    half: usize,
    products: Products,
    momentum: f64,
) -> (usize, usize) {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().build().unwrap());
    pool.install(|| steps_allocations::<M>(privacy, half, products, momentum))
}

fn steps_allocations<M: PrivateModel<f32>>(
    privacy: Option<Privacy>,
    half: usize,
    products: Products,
    momentum: f64,
) -> (usize, usize) {
    let spec = M::SPEC;
    let n = 2000;
    // Token models get whole ids of their vocabulary.
    let scale = spec.token_vocab.map_or(1.0 / 17.0, |_| 1.0);
    let x = ndarray::Array2::from_shape_fn((n, spec.input_width), |(i, j)| ((i * 7 + j * 13) % 17) as f32 * scale);
    let y: Vec<u32> = (0..n).map(|i| (i % spec.num_classes()) as u32).collect();
    let data = Dataset::new(x, y).unwrap();
    let config =
        TrainConfig { products, ..TrainConfig::new(1, 64, Optimizer::sgd(0.1, momentum).unwrap(), privacy, 3) };
    let model = M::init(0);
    let mut trainer = Trainer::new(&model, &data, &config).unwrap();
    trainer.step().unwrap();
    let mut counts = [0; 2];
    for count in &mut counts {
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for _ in 0..half {
            trainer.step().unwrap();
        }
        *count = ALLOCATIONS.load(Ordering::SeqCst) - before;
    }
    (counts[0], counts[1])
}

/// Where f32 products run on our own AVX-512 kernel, steps allocate nothing at all;
/// elsewhere the `gemm` crate allocates its packing buffers inside each product, and
/// the most we can promise is that steps do not allocate more as training goes on.
fn allocation_free_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[allow(unreachable_code)]
    false
}

#[test]
fn steps_after_the_first_do_not_allocate() {
    let private = Some(Privacy::new(1.1, 1.0).unwrap());
    let runs = [
        ("private ffnn", allocations_after_first_step::<Ffnn<f32>>(private, 250)),
        ("non-private ffnn", allocations_after_first_step::<Ffnn<f32>>(None, 250)),
        ("private logreg", allocations_after_first_step::<LogisticRegression<f32>>(private, 250)),
        // Stored LSTM gradients and the LSTM's scratch are sized once, for the capacity.
        ("private lstm", allocations_after_first_step::<LstmNet<f32>>(private, 2)),
        ("private mnist cnn", allocations_after_first_step::<MnistCnn<f32>>(private, 40)),
        ("private embedding net", allocations_after_first_step::<EmbeddingNet<f32>>(private, 40)),
        // Plain SGD: the table's noise is drawn when its rows are next read.
        ("private embedding net, plain SGD", allocations_with::<EmbeddingNet<f32>>(private, 40, Products::F32, 0.0)),
        // The tiles' packing buffers, like the blocked kernel's, are made once per thread.
        ("private lstm, bf16 products", allocations_with::<LstmNet<f32>>(private, 2, Products::Bf16, MOMENTUM)),
        (
            "private cifar10 net, bf16 products",
            allocations_with::<Cifar10Net<f32>>(private, 2, Products::Bf16, MOMENTUM),
        ),
    ];
    for (name, (first, second)) in runs {
        if allocation_free_kernels() {
            assert_eq!((first, second), (0, 0), "{name}");
        } else {
            eprintln!("{name}: no AVX-512, {first} then {second} allocations (inside the gemm crate)");
            // Poisson batch sizes change whether the library packs, so allow some spread.
            assert!(second <= first + first / 10 + 10, "{name}: allocations grow from step to step");
        }
    }
}
