-- Argo CD health of a ferryman.dev TrainingJob (resource.customizations.health.ferryman.dev_TrainingJob).
local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.status == nil or obj.status.phase == nil then return hs end
local phase = obj.status.phase
local message = obj.status.message or phase
if phase == "Succeeded" or phase == "Scheduled" then
  -- Scheduled: a schedule that starts a child TrainingJob per run; each run has its own health.
  return { status = "Healthy", message = message }
elseif phase == "Rejected" or phase == "Failed" then
  -- Rejected: the run finished but its model failed a gate (or was rejected by hand).
  return { status = "Degraded", message = message }
elseif phase == "AwaitingApproval" then
  -- Waits for `ferryman approve|reject tj NAME`, like a paused rollout.
  return { status = "Suspended", message = message }
end
-- Pending, Running, Validating.
hs.message = message
return hs
