"""keras_transfer.schedules."""

from keras_transfer.schedules.slanted_triangular import SlantedTriangular
