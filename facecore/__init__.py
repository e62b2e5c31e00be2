"""The face toolkit both ``datagen`` and ``cpgan`` build on.

``errors`` (``UserInputError``), ``config`` (frozen configs from params.yaml sections),
``torchfiles`` (atomic torch files, sha256), ``imageio`` (PNG/JPEG in and out), ``grid``
(image grids), ``perceptual`` (VGG-19 / ResNet features and their weights' records),
``dlib_models`` / ``dlib_resnet`` / ``identity`` / ``align`` (dlib's detector, landmarks
and face-recognition ResNet ported to torch, the canonical face crop), ``cli`` (the click
group that turns user errors into one line, ``--params``).

It imports neither ``datagen`` nor ``cpgan``.
"""
