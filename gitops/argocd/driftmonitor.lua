-- Argo CD health of a ferryman.dev DriftMonitor (resource.customizations.health.ferryman.dev_DriftMonitor).
-- Phases per ferryman.api.driftmonitor (DriftPhase); the monitor comes with DriftMonitor's operator.
local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.status == nil or obj.status.phase == nil then return hs end
local phase = obj.status.phase
local message = obj.status.message or phase
if phase == "Healthy" then
  return { status = "Healthy", message = message }
elseif phase == "Drifted" or phase == "Degraded" then
  return { status = "Degraded", message = message }
end
-- Pending, Collecting (not enough samples yet), Retraining (a TrainingJob is running).
hs.message = message
return hs
