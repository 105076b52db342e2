"""Deep learning: U-Net (2D/3D), SegNet and FCN-8s in PyTorch, trained from painted labels, with
tiled inference.

Everything here imports torch; the rest of the package imports these modules lazily (inside
functions), so ``segsuite --help`` and the napari menus never load torch.

- :mod:`.models`: :func:`~.models.build_model` ("unet", "segnet", "fcn"; 2D or 3D).
- :mod:`.train`: :func:`~.train.train_steps` / :func:`~.train.train` ->
  :class:`~.checkpoint.Checkpoint`.
- :mod:`.checkpoint`: one-file checkpoints (:func:`~.checkpoint.save_checkpoint`,
  :func:`~.checkpoint.load_model`), TorchScript models too.
- :mod:`.infer`: :func:`~.infer.predict_steps` / :func:`~.infer.predict` (sliding window, Gaussian
  blending), :func:`~.infer.split_instances`.
"""
