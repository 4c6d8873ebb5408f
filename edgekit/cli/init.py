"""`edgekit init`: write a starting recipe for a data source and a model, or list what edgekit knows."""
