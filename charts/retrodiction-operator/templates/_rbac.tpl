{{- /* What the operator does in the namespaces it watches. Proved minimal by tests/e2e/test_chart_install.py, which
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
{{- if eq .Values.operator.schedulerResolution "endpoints" }}
# The scheduler's address without cluster DNS: the Service's selector and port, then its ready pods.
- apiGroups: [""]
  resources: [services]
  verbs: [get]
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
{{- end }}
# Checkpoints and the summary, in ConfigMaps the run owns (replaced in place, never deleted: GC does that).
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, get, list, update]
# Object-storage credentials named by spec.data/output.credentialsSecretRef (only get: no list, no watch).
- apiGroups: [""]
  resources: [secrets]
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
