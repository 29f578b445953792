{{- /* What the operator does in the namespaces it watches: no verb on Secrets, no wildcard. Proved minimal by tests/e2e/test_chart_install.py, which
runs the operator with this ServiceAccount's token against an API server with OwnerReferencesPermissionEnforcement. */}}
{{- define "retrodiction-operator.namespacedRules" }}
# --- Kopf (the framework): watch the runs and the schedules, keep its bookkeeping annotations and finalizer on
# them, post Events.
- apiGroups: [training.retrodiction.dev]
  resources: [retrodictiontrainings, retrodictionschedules]
  verbs: [list, watch, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# --- The operator (the application).
# Status and phase of each run.
- apiGroups: [training.retrodiction.dev]
  resources: [retrodictiontrainings/status]
  verbs: [patch]
# A schedule starts runs, reads one back when its name is taken (its own from an earlier pass, or someone else's),
# and deletes them (history limits, concurrencyPolicy Replace); a finished run is deleted after its
# ttlSecondsAfterFinished.
- apiGroups: [training.retrodiction.dev]
  resources: [retrodictiontrainings]
  verbs: [create, get, delete]
- apiGroups: [training.retrodiction.dev]
  resources: [retrodictionschedules/status]
  verbs: [patch]
# Children (of runs, and runs of schedules) carry ownerReferences with blockOwnerDeletion, which needs update on
# the owner's finalizers.
- apiGroups: [training.retrodiction.dev]
  resources: [retrodictiontrainings/finalizers, retrodictionschedules/finalizers]
  verbs: [update]
# A DaskCluster per run (spec.dask.mode=kubernetes), adopted after an operator restart, deleted when finished.
- apiGroups: [kubernetes.dask.org]
  resources: [daskclusters]
  verbs: [create, get, delete]
# Each run's driver: a Job (suspended and resumed with the run), and what its pod may do in the run's namespace:
# its own ServiceAccount, a Role that lets it read its own run, and bindings to that Role and to the driver
# ClusterRole. `get` adopts what an earlier pass made; the watch of the drivers' Jobs wakes a run's daemon when
# its driver finishes.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, get, patch, list, watch]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [create, get]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, get]
# Binding the driver ClusterRole needs `bind` on it (and only on it): the operator holds none of its verbs.
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles]
  resourceNames: [{{ include "retrodiction-operator.driverClusterRole" . }}]
  verbs: [bind]
# Only the run's Dask pods may connect to them (kubernetes mode).
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [create, get]
# The driver's progress report, read with a byte cap: the only object a tenant writes that the operator reads.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
{{- end }}
{{- /* Kopf reads CRDs cluster-wide to find its resources, whatever the scope; and its peering object. */}}
{{- define "retrodiction-operator.clusterRules" }}
# --- Kopf (the framework): discover the served version of each watched resource.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if .Values.watchNamespaces }}
# --- Kopf (the framework): with namespaces given, it follows which of them exist.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- if and .Values.peering.enabled .Values.rbac.cluster }}
# --- Kopf peering (standby replicas): the ClusterKopfPeering the replicas announce themselves in (the first
# replica creates it; the chart cannot, as it installs the CRD in the same release).
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings]
  verbs: [create, list, watch, patch]
{{- end }}
{{- end }}
{{- /* What each run's driver may do in its run's namespace, bound per run by the operator (with a Role that lets
it read its own run). Nothing a tenant of the namespace could not do already. */}}
{{- define "retrodiction-operator.driverRules" }}
# Checkpoints, the summary and the progress report: ConfigMaps the run owns. Checkpoints are listed by label,
# rewritten as batches finish, and deleted once the summary is stored.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, get, list, update, delete]
# The run's TLS Secret (its init container makes it; the driver never reads a Secret back).
- apiGroups: [""]
  resources: [secrets]
  verbs: [create]
{{- end }}
