-- Argo CD health of a ferryman.dev ModelDeployment (resource.customizations.health.ferryman.dev_ModelDeployment).
-- Reads only what the operator writes to .status (docs/gitops.md): phase, message, conditions.
local hs = { status = "Progressing", message = "Waiting for the operator" }
local function condition(status, kind)
  if status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then return c end
  end
  return nil
end
if obj.status == nil then return hs end
local st = obj.status
local generation = obj.metadata and obj.metadata.generation
if st.observedGeneration ~= nil and generation ~= nil and st.observedGeneration < generation then
  hs.message = "Waiting for the operator to act on generation " .. generation
  return hs
end
local message = st.message or ""
local degraded = condition(st, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  return { status = "Degraded", message = degraded.message or message }
end
local phase = st.phase
if phase == "Paused" then
  return { status = "Suspended", message = message }
elseif phase == "RolledBack" or phase == "Degraded" then
  return { status = "Degraded", message = message }
elseif phase == "Succeeded" then
  local ready = condition(st, "Ready")
  if ready ~= nil and ready.status ~= "True" then
    return { status = "Progressing", message = ready.message or message }
  end
  return { status = "Healthy", message = message }
end
-- Pending (stable pods not ready yet), Progressing, Promoting.
if message ~= "" then hs.message = message end
return hs
