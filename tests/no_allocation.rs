//! Steady-state training steps allocate nothing: counted by a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use dpsgd::models::{Ffnn, LogisticRegression};
use dpsgd::prelude::*;
use dpsgd::runtime::train::Trainer;

/// Counts the allocations of the thread that runs the steps (the test harness's own
/// threads allocate as they please).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
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

fn allocations_after_first_step<M: PrivateModel<f32>>(privacy: Option<Privacy>) -> usize {
    let spec = M::SPEC;
    let n = 2000;
    let x = ndarray::Array2::from_shape_fn((n, spec.input_width), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0);
    let y = (0..n).map(|i| (i % spec.num_classes()) as u32).collect();
    let data = Dataset::new(x, y).unwrap();
    let config = TrainConfig { epochs: 1, batch_size: 64, sgd: Sgd::new(0.1, 0.9).unwrap(), privacy, seed: 3 };
    let model = M::init(0);
    let mut trainer = Trainer::new(&model, &data, &config).unwrap();
    trainer.step(&data).unwrap();
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..500 {
        trainer.step(&data).unwrap();
    }
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn steps_after_the_first_do_not_allocate() {
    let private = Some(Privacy::new(1.1, 1.0).unwrap());
    assert_eq!(allocations_after_first_step::<Ffnn<f32>>(private), 0, "private ffnn");
    assert_eq!(allocations_after_first_step::<Ffnn<f32>>(None), 0, "non-private ffnn");
    assert_eq!(allocations_after_first_step::<LogisticRegression<f32>>(private), 0, "private logreg");
}
