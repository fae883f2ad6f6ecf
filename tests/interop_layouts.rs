//! The parameter files `dpsgd init`, `grads` and `export` write hold PyTorch's layouts:
//! checked for every layer kind by computing each probe model's output here, from the
//! tensors in the file, the way PyTorch's modules define it (`nn.Linear`, `nn.Conv2d`
//! with `flatten` of NCHW, `nn.EmbeddingBag(mode="mean")`, `nn.LSTM` with gates i, f,
//! g, o), and comparing with the model's own forward pass. And a file the Python
//! `safetensors` package wrote reads back with the values it was given.

use dpsgd::prelude::*;
use dpsgd::runtime::interop;
use dpsgd::runtime::safetensors::SafeTensors;
use ndarray::{Array2, ArrayD, IxDyn};

#[private_model(loss = softmax_cross_entropy)]
mod dense_probe {
    pub struct DenseProbe {
        fc: Linear<3, 2>,
    }

    impl DenseProbe {
        pub fn forward(&self, x: Input<3>) -> Logits<2> {
            self.fc(x)
        }
    }
}

#[private_model(loss = softmax_cross_entropy)]
mod conv_probe {
    pub struct ConvProbe {
        conv: Conv2d<2, 3, 3, 1, Valid>,
    }

    impl ConvProbe {
        pub fn forward(&self, x: Image<2, 5, 4>) -> Logits<18> {
            flatten(self.conv(x))
        }
    }
}

#[private_model(loss = softmax_cross_entropy)]
mod embedding_probe {
    pub struct EmbeddingProbe {
        embed: Embedding<5, 3>,
    }

    impl EmbeddingProbe {
        pub fn forward(&self, x: Tokens<2>) -> Logits<3> {
            mean(self.embed(x))
        }
    }
}

#[private_model(loss = softmax_cross_entropy)]
mod lstm_probe {
    pub struct LstmProbe {
        embed: Embedding<4, 2>,
        lstm: Lstm<2, 3>,
    }

    impl LstmProbe {
        pub fn forward(&self, x: Tokens<3>) -> Logits<3> {
            mean(self.lstm(self.embed(x)))
        }
    }
}
#[private_model(loss = softmax_cross_entropy)]
mod group_norm_probe {
    pub struct GroupNormProbe {
        gn: GroupNorm<2, 4>,
    }

    impl GroupNormProbe {
        pub fn forward(&self, x: Image<4, 2, 3>) -> Logits<24> {
            flatten(self.gn(x))
        }
    }
}

#[private_model(loss = softmax_cross_entropy)]
mod layer_norm_probe {
    pub struct LayerNormProbe {
        pub ln: LayerNorm<5>,
    }

    impl LayerNormProbe {
        pub fn forward(&self, x: Input<5>) -> Logits<5> {
            self.ln(x)
        }
    }
}
use conv_probe::ConvProbe;
use dense_probe::DenseProbe;
use embedding_probe::EmbeddingProbe;
use group_norm_probe::GroupNormProbe;
use layer_norm_probe::LayerNormProbe;
use lstm_probe::LstmProbe;

/// The model's parameters as PyTorch tensors, by name.
fn torch_tensors<M: PrivateModel<f64>>(model: &M) -> impl Fn(&str) -> ArrayD<f64> {
    let file = interop::to_torch(&M::SPEC, model.params());
    move |name: &str| {
        let t = &file.tensors[name];
        ArrayD::from_shape_vec(IxDyn(&t.shape), t.to_floats::<f64>().unwrap()).unwrap()
    }
}

fn assert_close(got: &Array2<f64>, want: &Array2<f64>, what: &str) {
    assert_eq!(got.dim(), want.dim(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{what}: {g} against PyTorch's {w}\n{got}\n{want}");
    }
}

#[test]
fn dense_weights_are_out_by_in() {
    let model = DenseProbe::<f64>::init(1);
    let p = torch_tensors(&model);
    let (w, b) = (p("fc.weight"), p("fc.bias"));
    let x = Array2::from_shape_fn((2, 3), |(r, c)| 0.3 * r as f64 - 0.2 * c as f64 + 0.1);
    // nn.Linear: y = x W^T + b.
    let want = Array2::from_shape_fn((2, 2), |(r, o)| b[[o]] + (0..3).map(|i| x[[r, i]] * w[[o, i]]).sum::<f64>());
    assert_close(&model.forward(x.view()).unwrap(), &want, "Linear");
}

#[test]
fn convolution_weights_are_out_in_kh_kw_and_outputs_flatten_as_nchw() {
    let model = ConvProbe::<f64>::init(2);
    let p = torch_tensors(&model);
    let (w, b) = (p("conv.weight"), p("conv.bias"));
    assert_eq!(w.shape(), [3, 2, 3, 3]);
    // Images as NCHW rows: channel, then row, then column.
    let x = Array2::from_shape_fn((2, 2 * 5 * 4), |(n, j)| ((n * 40 + j) % 13) as f64 / 7.0 - 0.8);
    let pixel = |n: usize, c: usize, r: usize, col: usize| x[[n, c * 20 + r * 4 + col]];
    // nn.Conv2d, no padding, stride 1: out 3 x 2, flattened channel-major.
    let want = Array2::from_shape_fn((2, 18), |(n, j)| {
        let (o, r, col) = (j / 6, j % 6 / 2, j % 2);
        let mut sum = b[[o]];
        for c in 0..2 {
            for (kh, kw) in (0..3).flat_map(|kh| (0..3).map(move |kw| (kh, kw))) {
                sum += w[[o, c, kh, kw]] * pixel(n, c, r + kh, col + kw);
            }
        }
        sum
    });
    assert_close(&model.forward(x.view()).unwrap(), &want, "Conv2d");
}

#[test]
fn embedding_tables_are_vocab_by_dim() {
    let model = EmbeddingProbe::<f64>::init(3);
    let table = torch_tensors(&model)("embed.weight");
    assert_eq!(table.shape(), [5, 3]);
    let tokens = [[4.0, 1.0], [2.0, 2.0]];
    let x = Array2::from_shape_fn((2, 2), |(n, t)| tokens[n][t]);
    // nn.EmbeddingBag(mode="mean").
    let want =
        Array2::from_shape_fn((2, 3), |(n, d)| (0..2).map(|t| table[[tokens[n][t] as usize, d]]).sum::<f64>() / 2.0);
    assert_close(&model.forward(x.view()).unwrap(), &want, "Embedding");
}

#[test]
fn lstm_weights_are_gates_i_f_g_o_by_input() {
    let model = LstmProbe::<f64>::init(4);
    let p = torch_tensors(&model);
    let (table, w_ih, w_hh) = (p("embed.weight"), p("lstm.weight_ih_l0"), p("lstm.weight_hh_l0"));
    let (b_ih, b_hh) = (p("lstm.bias_ih_l0"), p("lstm.bias_hh_l0"));
    assert_eq!((w_ih.shape(), w_hh.shape()), ([12, 2].as_slice(), [12, 3].as_slice()));
    let tokens = [[3.0, 0.0, 1.0], [2.0, 2.0, 3.0]];
    let x = Array2::from_shape_fn((2, 3), |(n, t)| tokens[n][t]);
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    // nn.LSTM, one layer, zero initial state; the output sequence's mean.
    let want = Array2::from_shape_fn((2, 3), |(n, unit)| {
        let (mut h, mut c, mut mean) = ([0.0; 3], [0.0; 3], 0.0);
        for &token in &tokens[n] {
            let input = [table[[token as usize, 0]], table[[token as usize, 1]]];
            let gate = |row: usize| {
                b_ih[[row]]
                    + b_hh[[row]]
                    + (0..2).map(|i| w_ih[[row, i]] * input[i]).sum::<f64>()
                    + (0..3).map(|j| w_hh[[row, j]] * h[j]).sum::<f64>()
            };
            let (mut next_h, mut next_c) = ([0.0; 3], [0.0; 3]);
            for k in 0..3 {
                let (i, f, g, o) = (sigmoid(gate(k)), sigmoid(gate(3 + k)), gate(6 + k).tanh(), sigmoid(gate(9 + k)));
                next_c[k] = f * c[k] + i * g;
                next_h[k] = o * next_c[k].tanh();
            }
            (h, c) = (next_h, next_c);
            mean += h[unit] / 3.0;
        }
        mean
    });
    assert_close(&model.forward(x.view()).unwrap(), &want, "Lstm");
}

/// A model whose parameters are distinct values (a normalization starts with ones
/// and zeros, which would hide a swapped channel).
fn with_distinct_params<M: PrivateModel<f64>>() -> M {
    M::from_params((0..M::SPEC.num_params).map(|i| 0.5 + 0.37 * i as f64 - 0.05 * (i * i) as f64).collect()).unwrap()
}

#[test]
fn group_normalizations_scale_and_shift_each_channel() {
    let model = with_distinct_params::<GroupNormProbe<f64>>();
    let p = torch_tensors(&model);
    let (w, b) = (p("gn.weight"), p("gn.bias"));
    assert_eq!((w.shape(), b.shape()), ([4].as_slice(), [4].as_slice()));
    let x = Array2::from_shape_fn((2, 24), |(n, j)| ((n * 24 + j * j) % 17) as f64 / 5.0 - 1.3);
    // nn.GroupNorm(2, 4): statistics over each group's 2 channels of 2x3 pixels (NCHW).
    let want = Array2::from_shape_fn((2, 24), |(n, j)| {
        let (c, group) = (j / 6, j / 12);
        let values: Vec<f64> = (group * 12..group * 12 + 12).map(|k| x[[n, k]]).collect();
        let mean = values.iter().sum::<f64>() / 12.0;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 12.0;
        (x[[n, j]] - mean) / (variance + 1e-5).sqrt() * w[[c]] + b[[c]]
    });
    assert_close(&model.forward(x.view()).unwrap(), &want, "GroupNorm");
}

#[test]
fn layer_normalizations_scale_and_shift_each_feature() {
    let model = with_distinct_params::<LayerNormProbe<f64>>();
    let p = torch_tensors(&model);
    let (w, b) = (p("ln.weight"), p("ln.bias"));
    let x = Array2::from_shape_fn((3, 5), |(n, j)| ((n * 5 + j * 3) % 7) as f64 / 3.0 - 1.0);
    // nn.LayerNorm(5).
    let want = Array2::from_shape_fn((3, 5), |(n, j)| {
        let row = x.row(n);
        let mean = row.sum() / 5.0;
        let variance = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 5.0;
        (x[[n, j]] - mean) / (variance + 1e-5).sqrt() * w[[j]] + b[[j]]
    });
    assert_close(&model.forward(x.view()).unwrap(), &want, "LayerNorm");
    // PyTorch starts the scales at one and the shifts at zero.
    let fresh = LayerNormProbe::<f64>::init(7);
    assert_eq!(fresh.ln().weight.to_vec(), [1.0; 5]);
    assert_eq!(fresh.ln().bias.to_vec(), [0.0; 5]);
}

/// The fixture was written by `scripts/make_safetensors_fixture.py` with the Python
/// `safetensors` package; its values are a formula of their PyTorch indices.
#[test]
fn a_file_written_by_pythons_safetensors_reads_back() {
    use dpsgd::models::Ffnn;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dpsgd-runtime/testdata/ffnn_torch.safetensors");
    let file = SafeTensors::read(&path).unwrap();
    assert_eq!(file.metadata.get("format").map(String::as_str), Some("pt"));
    let weight = |o: usize, i: usize, salt: usize| (((o * 131 + i * 7 + salt) % 97) as f64 - 48.0) / 64.0;
    let bias = |k: usize, salt: usize| (((k * 5 + salt) % 11) as f64 - 5.0) / 8.0;
    let model =
        Ffnn::<f32>::from_params(interop::from_torch::<f32>(&Ffnn::<f32>::SPEC, &file, &path).unwrap()).unwrap();
    // The engine's layout is [in, out]: PyTorch's weight[o, i] is weight[[i, o]] here.
    for (o, i) in [(0, 0), (3, 5), (49, 103), (17, 60)] {
        assert_eq!(model.fc1().weight[[i, o]] as f64, weight(o, i, 1), "fc1.weight[{o}, {i}]");
    }
    for (o, i) in [(0, 0), (1, 49), (1, 7)] {
        assert_eq!(model.fc2().weight[[i, o]] as f64, weight(o, i, 3), "fc2.weight[{o}, {i}]");
    }
    assert_eq!(model.fc1().bias[[37]] as f64, bias(37, 2));
    assert_eq!(model.fc2().bias.to_vec(), [bias(0, 4) as f32, bias(1, 4) as f32]);
}
