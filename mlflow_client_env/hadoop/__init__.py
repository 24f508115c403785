"""Hadoop on the client: where it is installed, its client configuration, and its CLASSPATH.

- ``install``: the layouts (parcels, packages, HDP, tarballs) and what each holds;
- ``conf``: the client configuration folder and the few keys that matter;
- ``classpath``: the jar list the JNI JVM needs, built and checked;
- ``tokens``: Hadoop's delegation-token file (``HADOOP_TOKEN_FILE_LOCATION``), read, never
  its secrets kept.
"""

#: The variable YARN (and ``hdfs fetchdt`` users) set to the token storage file. Here, not
#: in ``tokens``, so that a process can ask whether it has tokens without importing it.
TOKEN_FILE_VAR = "HADOOP_TOKEN_FILE_LOCATION"
