//! f, g and the color heads as PyTorch state dicts: the authors' module names and PyTorch's
//! layouts, so that `tools/lntl_networks.py`'s `LntlNetworks` (the authors' `convnet` as `net`
//! and their three `Predictor`s as `pred_net_r`, `pred_net_g`, `pred_net_b`, the attribute
//! names of their trainer) loads the file with `load_state_dict(..., strict=True)`.
//!
//! Convolution weights go from `[group][ky][kx][ci][co]` to OIHW; the linear layer and the
//! heads' tensors are already in PyTorch's layout. Each batch norm also gets the
//! `num_batches_tracked` counter PyTorch keeps (int64, here 0: it only matters for a batch norm
//! without momentum, and ours all have PyTorch's 0.1). No optimizer state is exported.

use crate::models::color_heads::{ColorHeads, HEADS};
use crate::models::convnet::ConvNet;
use crate::models::pytorch_layout::conv_weight_to_oihw;
use crate::util::atomic::write_bytes_atomic;
use anyhow::{Context, Result};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use std::path::Path;

/// The prefix of each head's tensors, in the order of [`ColorHeads::head`].
pub const HEAD_PREFIXES: [&str; HEADS] = ["pred_net_r", "pred_net_g", "pred_net_b"];

/// One exported tensor: f32 values, or PyTorch's int64 batch counter.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// A float tensor.
    F32(Vec<f32>),
    /// An int64 tensor.
    I64(Vec<i64>),
}

/// A named tensor of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The PyTorch state-dict key.
    pub name: String,
    /// The PyTorch shape.
    pub shape: Vec<usize>,
    /// The values, row-major in that shape.
    pub values: Values,
}

fn float(name: String, shape: &[usize], values: Vec<f32>) -> Exported {
    Exported {
        name,
        shape: shape.to_vec(),
        values: Values::F32(values),
    }
}

/// A batch norm's five state-dict entries under `prefix`.
fn batch_norm(prefix: &str, stats: [Vec<f32>; 4]) -> Vec<Exported> {
    let channels = stats[0].len();
    let [weight, bias, mean, var] = stats;
    vec![
        float(format!("{prefix}.weight"), &[channels], weight),
        float(format!("{prefix}.bias"), &[channels], bias),
        float(format!("{prefix}.running_mean"), &[channels], mean),
        float(format!("{prefix}.running_var"), &[channels], var),
        Exported {
            name: format!("{prefix}.num_batches_tracked"),
            shape: Vec::new(),
            values: Values::I64(vec![0]),
        },
    ]
}

/// The state dict of f and g (`net.…`, the authors' `convnet`) and of the three heads
/// (`pred_net_{r,g,b}.…`, their `Predictor`).
pub fn pytorch_state(net: &mut ConvNet, heads: &ColorHeads) -> Vec<Exported> {
    let bn = &net.stem.bn;
    let mut out = batch_norm(
        "net.bn0",
        [
            bn.gamma.value.clone(),
            bn.beta.value.clone(),
            bn.running_mean.clone(),
            bn.running_var.clone(),
        ],
    );
    for (name, conv) in net.convs_mut() {
        let s = conv.spec;
        let shape = [s.out_channels, s.group_in(), s.kernel, s.kernel];
        out.push(float(
            format!("net.{name}.weight"),
            &shape,
            conv_weight_to_oihw(&conv.weight.value, &s),
        ));
        out.push(float(
            format!("net.{name}.bias"),
            &[s.out_channels],
            conv.bias.value.clone(),
        ));
    }
    let fc = &net.fc;
    out.push(float(
        "net.fc.weight".into(),
        &fc.weight.dims,
        fc.weight.value.clone(),
    ));
    out.push(float(
        "net.fc.bias".into(),
        &fc.bias.dims,
        fc.bias.value.clone(),
    ));
    for (h, prefix) in HEAD_PREFIXES.iter().enumerate() {
        let p = heads.head(h);
        let (hidden, bins) = (p.conv1_bias.len(), p.conv2_bias.len());
        let inputs = p.conv1_weight.len() / (hidden * 9);
        out.push(float(
            format!("{prefix}.pred_conv1.weight"),
            &[hidden, inputs, 3, 3],
            p.conv1_weight,
        ));
        out.push(float(
            format!("{prefix}.pred_conv1.bias"),
            &[hidden],
            p.conv1_bias,
        ));
        out.extend(batch_norm(
            &format!("{prefix}.pred_bn1"),
            [p.bn_weight, p.bn_bias, p.bn_running_mean, p.bn_running_var],
        ));
        out.push(float(
            format!("{prefix}.pred_conv2.weight"),
            &[bins, hidden, 3, 3],
            p.conv2_weight,
        ));
        out.push(float(
            format!("{prefix}.pred_conv2.bias"),
            &[bins],
            p.conv2_bias,
        ));
    }
    out
}

/// Writes `tensors` to `path` as a safetensors file, atomically.
pub fn write_safetensors(tensors: &[Exported], path: &Path) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| match &t.values {
            Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            let dtype = match t.values {
                Values::F32(_) => Dtype::F32,
                Values::I64(_) => Dtype::I64,
            };
            TensorView::new(dtype, t.shape.clone(), b).map(|v| (t.name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: inconsistent tensor", path.display()))?;
    let file = safetensors::serialize(views, None)
        .with_context(|| format!("{}: cannot serialize", path.display()))?;
    write_bytes_atomic(path, &file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::pytorch_layout::conv_weight_from_oihw;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use safetensors::SafeTensors;

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// Every tensor has the shape and element count PyTorch expects, and the file read back
    /// restores the engine's weights exactly.
    #[test]
    fn the_export_names_shapes_and_round_trips_every_tensor() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut net = ConvNet::new(&mut rng);
        let heads = ColorHeads::new(&mut rng);
        net.stem.bn.running_mean = vec![0.5, -0.5, 0.25];
        let state = pytorch_state(&mut net, &heads);
        let shape = |name: &str| {
            state
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .shape
                .clone()
        };
        assert_eq!(shape("net.conv1.weight"), [32, 3, 5, 5]);
        assert_eq!(shape("net.conv3.weight"), [64, 32, 3, 3]);
        assert_eq!(shape("net.fc.weight"), [10, 64]);
        assert_eq!(shape("pred_net_b.pred_conv1.weight"), [32, 32, 3, 3]);
        assert_eq!(shape("pred_net_g.pred_conv2.weight"), [8, 32, 3, 3]);
        assert_eq!(
            shape("pred_net_r.pred_bn1.num_batches_tracked"),
            Vec::<usize>::new()
        );
        // 5 for bn0, 2 per convolution, 2 for fc; per head 2 per convolution and 5 for its
        // batch norm.
        assert_eq!(state.len(), 5 + 8 + 2 + 3 * 9);
        for t in &state {
            let len = match &t.values {
                Values::F32(v) => v.len(),
                Values::I64(v) => v.len(),
            };
            assert_eq!(len, t.shape.iter().product::<usize>(), "{}", t.name);
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.safetensors");
        write_safetensors(&state, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(file.len(), state.len());
        let read = |name: &str| f32s(file.tensor(name).unwrap().data());
        for (name, conv) in net.convs_mut() {
            let back = conv_weight_from_oihw(&read(&format!("net.{name}.weight")), &conv.spec);
            assert_eq!(back, conv.weight.value, "{name}");
        }
        assert_eq!(read("net.bn0.running_mean"), [0.5, -0.5, 0.25]);
        assert_eq!(read("net.fc.weight"), net.fc.weight.value);
        let g = heads.head(1);
        assert_eq!(read("pred_net_g.pred_conv2.weight"), g.conv2_weight);
        assert_eq!(read("pred_net_g.pred_bn1.running_var"), g.bn_running_var);
        let counter = file.tensor("net.bn0.num_batches_tracked").unwrap();
        assert_eq!(counter.dtype(), Dtype::I64);
        assert_eq!(counter.data(), 0i64.to_le_bytes());
    }

    /// OIHW by hand for one weight: output channel 1, input channel 2, row 0, column 4 of
    /// conv1 (5×5, 3→32) sits at ((1·3 + 2)·5 + 0)·5 + 4 = 129 in OIHW, and at
    /// ((0·5 + 4)·3 + 2)·32 + 1 = 449 in `[ky][kx][ci][co]`.
    #[test]
    fn conv_weights_are_oihw() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut net = ConvNet::new(&mut rng);
        let heads = ColorHeads::new(&mut rng);
        net.stem.conv.weight.value[449] = 42.0;
        let state = pytorch_state(&mut net, &heads);
        let conv1 = state.iter().find(|t| t.name == "net.conv1.weight").unwrap();
        let Values::F32(values) = &conv1.values else {
            panic!("float weights");
        };
        assert_eq!(values[129], 42.0);
    }
}
