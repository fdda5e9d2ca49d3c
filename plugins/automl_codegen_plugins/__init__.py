"""Built-in plugins of AutoML-CodeGen, registered through the `automl_codegen` entry points."""
