//! The whole-batch passes of the layers that training only runs fused (the input stem fuses the
//! input batch norm, conv1 and max pooling; the heads read their batch norm and ReLU through a
//! map): the plain definitions that the fused passes and the finite-difference checks are held
//! to. Nothing in training calls them.

use crate::engine::batch_norm::{BatchNorm2d, apply_map};
use crate::engine::max_pool::MaxPool2d;
use crate::engine::tensor::{ITEMS_PER_TASK, Tensor};
use rayon::prelude::*;

impl BatchNorm2d {
    /// Training-mode forward into `out`: normalizes with batch statistics and updates the
    /// running stats. Keeps only the statistics: the backward pass recomputes x̂ from the input.
    pub fn forward_train(&mut self, input: &Tensor, out: &mut Tensor) {
        let map = self.train_map(input);
        apply_map(&map, input, out);
    }
}

impl MaxPool2d {
    /// Forward pass of a batch into `out`, with the routes of every output value.
    pub fn forward(&self, input: &Tensor, out: &mut Tensor, routes: &mut Vec<u8>) {
        let [_, h, w, c] = input.dims;
        out.resize(self.output_dims(input.dims));
        routes.resize(out.data.len(), 0);
        let (item_in, item_out) = (h * w * c, out.item_len());
        let windows = self.windows([h, w, c]);
        out.data
            .par_chunks_mut(ITEMS_PER_TASK * item_out)
            .zip(routes.par_chunks_mut(ITEMS_PER_TASK * item_out))
            .zip(input.data.par_chunks(ITEMS_PER_TASK * item_in))
            .for_each(|((out, routes), x)| {
                for ((out, routes), x) in out
                    .chunks_mut(item_out)
                    .zip(routes.chunks_mut(item_out))
                    .zip(x.chunks(item_in))
                {
                    MaxPool2d::forward_image(&windows, x, out, routes);
                }
            });
    }

    /// Backward pass of a batch: writes the gradient with respect to the input (of `dims`) into
    /// `dx`, given the output gradient `dout` and the forward pass's routes.
    pub fn backward(&self, dout: &Tensor, routes: &[u8], dims: [usize; 4], dx: &mut Tensor) {
        let [_, h, w, c] = dims;
        dx.resize(dims);
        let (item_in, item_out) = (h * w * c, dout.item_len());
        let windows = self.windows([h, w, c]);
        dx.data
            .par_chunks_mut(ITEMS_PER_TASK * item_in)
            .zip(dout.data.par_chunks(ITEMS_PER_TASK * item_out))
            .zip(routes.par_chunks(ITEMS_PER_TASK * item_out))
            .for_each(|((dx, dy), routes)| {
                for ((dx, dy), routes) in dx
                    .chunks_mut(item_in)
                    .zip(dy.chunks(item_out))
                    .zip(routes.chunks(item_out))
                {
                    MaxPool2d::backward_image(&windows, dy, routes, dx);
                }
            });
    }
}
