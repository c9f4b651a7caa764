"""keras_transfer.layers."""

from keras_transfer.layers.hub_backbone import HubBackbone, export_reusable_savedmodel
