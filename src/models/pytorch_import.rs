//! The authors' checkpoints (`checkpoint_step_NNNN.pth`, written by their trainer's
//! `_save_model`): `{'step': n, 'net_state_dict': convnet.state_dict(), 'optim_state_dict':
//! SGD.state_dict()}`, read into f and g with the SGD momentum of every parameter, as their
//! `_load_model` restores both. No color heads: the authors never save them.
//!
//! The state dict is read strictly, as PyTorch's `load_state_dict` does: every tensor of the
//! network must be there with PyTorch's shape, nothing else may be (but `num_batches_tracked`,
//! which PyTorch 0.4.1 added and nothing here uses). The optimizer's `param_groups[0].params`
//! lists its parameters in the network's order, by index (PyTorch ≥ 1.x) or by `id(param)`
//! (0.4); its `state` maps them to their `momentum_buffer`.

use crate::data::pickle::Value;
use crate::data::torch_file::{TorchFile, dict_entry};
use crate::engine::conv::ConvSpec;
use crate::engine::param::Param;
use crate::models::convnet::ConvNet;
use crate::models::pytorch_layout::conv_weight_from_oihw;
use anyhow::{Context, Result, bail, ensure};

/// What an authors' checkpoint says beside the weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuthorsCheckpoint {
    /// The last finished step (epoch), counted from 0.
    pub step: usize,
    /// The learning rate the optimizer would use next (`param_groups[0]['lr']`, which their
    /// schedule set after the last step).
    pub next_lr: f64,
}

/// A parameter of f or g with its PyTorch name and shape, and the convolution it belongs to
/// (whose weight needs OIHW → our layout), in the order of `convnet.parameters()`.
struct Target<'n> {
    name: String,
    shape: Vec<usize>,
    conv: Option<ConvSpec>,
    param: &'n mut Param,
}

/// A parameter outside a convolution's weight: PyTorch's shape is ours.
fn plain<'n>(name: &str, param: &'n mut Param) -> Target<'n> {
    Target {
        name: name.to_string(),
        shape: param.dims.clone(),
        conv: None,
        param,
    }
}

fn targets(net: &mut ConvNet) -> Vec<Target<'_>> {
    let ConvNet {
        stem,
        conv2,
        conv3,
        conv4,
        fc,
        ..
    } = net;
    let mut out = vec![
        plain("bn0.weight", &mut stem.bn.gamma),
        plain("bn0.bias", &mut stem.bn.beta),
    ];
    for (name, conv) in [
        ("conv1", &mut stem.conv),
        ("conv2", conv2),
        ("conv3", conv3),
        ("conv4", conv4),
    ] {
        let s = conv.spec;
        out.push(Target {
            name: format!("{name}.weight"),
            shape: vec![s.out_channels, s.group_in(), s.kernel, s.kernel],
            conv: Some(s),
            param: &mut conv.weight,
        });
        out.push(plain(&format!("{name}.bias"), &mut conv.bias));
    }
    out.push(plain("fc.weight", &mut fc.weight));
    out.push(plain("fc.bias", &mut fc.bias));
    out
}

fn entry<'v>(dict: &'v Value, key: &str, what: &str) -> Result<&'v Value> {
    dict_entry(dict, key).with_context(|| format!("{what} has no '{key}'"))
}

/// Reads `name` of `dict` as a float tensor of `shape`, in our layout.
fn values(
    file: &TorchFile,
    dict: &Value,
    name: &str,
    target: &Target,
    what: &str,
) -> Result<Vec<f32>> {
    let tensor = file.tensor(entry(dict, name, what)?, &format!("{what} '{name}'"))?;
    ensure!(
        tensor.shape == target.shape,
        "{what} '{name}' has shape {:?}, expected {:?}",
        tensor.shape,
        target.shape
    );
    let values = tensor.to_f32();
    Ok(match &target.conv {
        Some(spec) => conv_weight_from_oihw(&values, spec),
        None => values,
    })
}

/// Reads an authors' checkpoint into `net`: weights, running statistics and momentum.
pub fn import_authors_checkpoint(file: &TorchFile, net: &mut ConvNet) -> Result<AuthorsCheckpoint> {
    let root = &file.root;
    let step = match entry(root, "step", "the checkpoint")? {
        Value::Int(step) => usize::try_from(*step).context("a negative 'step'")?,
        _ => bail!("the checkpoint's 'step' is not an integer"),
    };
    let state_dict = entry(root, "net_state_dict", "the checkpoint")?;
    let optimizer = entry(root, "optim_state_dict", "the checkpoint")?;
    let Value::List(groups) = entry(optimizer, "param_groups", "optim_state_dict")? else {
        bail!("optim_state_dict's 'param_groups' is not a list");
    };
    let [group] = groups.as_slice() else {
        bail!(
            "optim_state_dict has {} parameter groups, expected the network's one",
            groups.len()
        );
    };
    let next_lr = match entry(group, "lr", "the parameter group")? {
        Value::Float(lr) => *lr,
        Value::Int(lr) => *lr as f64,
        _ => bail!("the parameter group's 'lr' is not a number"),
    };
    let Value::List(ids) = entry(group, "params", "the parameter group")? else {
        bail!("the parameter group's 'params' is not a list");
    };
    let state = entry(optimizer, "state", "optim_state_dict")?;
    let Value::Dict(state_entries) = state else {
        bail!("optim_state_dict's 'state' is not a dict");
    };

    let mut targets = targets(net);
    ensure!(
        ids.len() == targets.len(),
        "the optimizer holds {} parameters, the network {}",
        ids.len(),
        targets.len()
    );
    let Value::Dict(tensors) = state_dict else {
        bail!("'net_state_dict' is not a dict");
    };
    for (key, _) in tensors {
        let key = key.as_text().unwrap_or_default();
        let known = targets.iter().any(|t| t.name == key)
            || matches!(
                key.as_str(),
                "bn0.running_mean" | "bn0.running_var" | "bn0.num_batches_tracked"
            );
        ensure!(
            known,
            "net_state_dict has '{key}', which the authors' convnet does not"
        );
    }
    for (target, id) in targets.iter_mut().zip(ids) {
        let value = values(file, state_dict, &target.name, target, "net_state_dict")?;
        let momentum = match state_entries.iter().find(|(k, _)| k == id) {
            Some((_, param_state)) => {
                let what = format!("the optimizer state of '{}'", target.name);
                values(file, param_state, "momentum_buffer", target, &what)?
            }
            // A parameter the optimizer never stepped has no buffer yet.
            None => Vec::new(),
        };
        target.param.value = value;
        target.param.momentum = momentum;
    }
    for (name, stats) in net.running_stats_mut() {
        let tensor = file.tensor(entry(state_dict, name, "net_state_dict")?, name)?;
        ensure!(
            tensor.shape == [stats.len()],
            "net_state_dict '{name}' has shape {:?}, expected [{}]",
            tensor.shape,
            stats.len()
        );
        *stats = tensor.to_f32();
    }
    Ok(AuthorsCheckpoint { step, next_lr })
}
