"""Jupyter kernels that carry the environment.

- ``spec``: build, install, list and remove kernel specs (``install-kernel``);
- ``launcher``: what a kernel runs at every start (through the ``mlflow_client_env.kernel``
  shim), before it execs ipykernel;
- ``ipython_hook``: explains HDFS/JVM/Kerberos tracebacks in notebooks;
- ``resources/``: the kernel logos, shipped in the wheel.
"""
