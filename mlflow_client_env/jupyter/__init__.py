"""Jupyter kernels that carry the environment.

- ``spec``: the pure part of ``install-kernel``: names, settings, the ``kernel.json`` it
  would write, reading one back;
- ``install``: writing and removing kernel folders (locks, staging, atomic swap);
- ``listing``: the kernels Jupyter would find, and whether each still resolves;
- ``launcher``: what a kernel runs at every start (through the ``mlflow_client_env.kernel``
  shim), before it starts ipykernel (in its own interpreter, or an exec'd one);
- ``record``: what a kernel started in the launcher's own interpreter set, for
  ``doctor --pid``;
- ``extension``: the IPython extension a launcher kernel loads (fd 2 captured, the hook
  installed, the launcher's message shown), and the names a launcher kernel goes by;
- ``ipython_hook``: explains HDFS/JVM/Kerberos tracebacks in notebooks;
- ``stderr_capture``: in launcher kernels, tees fd 2 (where the JVM writes) to the kernel's
  log and a small in-memory ring, so the hook can name the Java-side cause;
- ``resources/``: the kernel logos, shipped in the wheel.
"""
