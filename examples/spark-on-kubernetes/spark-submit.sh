#!/usr/bin/env bash
# Submit score_with_ferryman.py to Spark on Kubernetes in cluster mode. NOT RUN IN CI: there is no
# Spark-on-Kubernetes cluster in Ferryman's test setup (the spark tier runs the same application on
# pyspark local[2]). Adapt the names in capitals to your cluster.
#
# IMAGE: a Spark image with Python, pyspark 4, Java 17 and `pip install 'ferryman[serving]'`, holding this
# application at /opt/ferryman/score_with_ferryman.py (and hadoop-aws for s3a:// data).
# The `spark` service account needs the RBAC Spark's Kubernetes docs describe (create executor pods).
set -euo pipefail

spark-submit \
  --master "k8s://https://API-SERVER:6443" \
  --deploy-mode cluster \
  --name churn-scores \
  --conf spark.kubernetes.namespace=risk \
  --conf spark.kubernetes.container.image=IMAGE \
  --conf spark.kubernetes.authenticate.driver.serviceAccountName=spark \
  --conf spark.executor.instances=4 \
  --conf spark.executor.cores=2 \
  `# The driver (output schema) and every executor load the model: give both the registry.` \
  --conf spark.kubernetes.driverEnv.FERRYMAN_MLFLOW_TRACKING_URI=http://mlflow.mlflow:5000 \
  --conf spark.executorEnv.FERRYMAN_MLFLOW_TRACKING_URI=http://mlflow.mlflow:5000 \
  local:///opt/ferryman/score_with_ferryman.py \
  --model models:/churn/6 \
  --input s3a://data/customers/ \
  --output s3a://data/churn-scores/ \
  --passthrough customer_id
