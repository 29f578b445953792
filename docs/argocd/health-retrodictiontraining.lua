-- Argo CD health check for training.retrodiction.dev/v1alpha1 RetrodictionTraining.
-- Argo CD runs custom checks without Lua's string and math libraries, so this script uses only `..`,
-- tostring and table; every field may be missing (a run the operator has not seen yet has no status).
local hs = {}

local function progress(status)
  if status.progress == nil then
    return nil
  end
  local text = tostring(status.progress) .. " batches"
  if status.completedPercentage ~= nil then
    text = text .. ", " .. tostring(status.completedPercentage) .. "%"
  end
  if status.estimatedRemainingSeconds ~= nil then
    text = text .. ", about " .. tostring(status.estimatedRemainingSeconds) .. "s left"
  end
  return text
end

-- "Phase: what the operator said (progress)", leaving out what is not there.
local function describe(phase, status, with_progress)
  local text = phase
  if status.message ~= nil and status.message ~= "" then
    text = text .. ": " .. tostring(status.message)
  end
  local counts = with_progress and progress(status) or nil
  if counts ~= nil then
    text = text .. " (" .. counts .. ")"
  end
  return text
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the run"
  return hs
end
local phase = status.phase

-- Finished runs are final: the operator never looks at them again, so an edit after the end leaves
-- observedGeneration behind for good. Reporting that as Progressing would hold a sync wave forever.
if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = describe(phase, status, false)
  return hs
end
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "Failed"
  if status.reason ~= nil and status.reason ~= "" then
    hs.message = hs.message .. " (" .. tostring(status.reason) .. ")"
  end
  if status.message ~= nil and status.message ~= "" then
    hs.message = hs.message .. ": " .. tostring(status.message)
  end
  return hs
end

-- An unfinished run whose status describes an older spec (for example suspend was just set or cleared).
local generation = obj.metadata ~= nil and obj.metadata.generation or nil
local observed = status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    .. " (status is for generation " .. tostring(observed) .. ")"
  return hs
end

if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = describe(phase, status, true)
  return hs
end
if phase == "Pending" or phase == "Provisioning" or phase == "Running" then
  hs.status = "Progressing"
  hs.message = describe(phase, status, true)
  return hs
end

-- A phase this check does not know (a newer operator): wait rather than guess.
hs.status = "Progressing"
hs.message = "Unrecognised phase " .. tostring(phase)
return hs
