-- Argo CD health check for training.retrodiction.dev/v1alpha1 RetrodictionSchedule.
-- Like a CronJob, a schedule is healthy while it schedules: a failed run shows on that run, not here.
-- Argo CD runs custom checks without Lua's string and math libraries, so this script uses only `..`,
-- tostring and table; every field may be missing.
local hs = {}

-- Conditions that say the schedule itself cannot work (an invalid cron expression, time zone or template).
local BROKEN = { Invalid = true, Failed = true }

local function summary(status)
  local parts = {}
  if status.lastScheduleTime ~= nil then
    table.insert(parts, "last run scheduled at " .. tostring(status.lastScheduleTime))
  else
    table.insert(parts, "no run scheduled yet")
  end
  if status.nextScheduleTime ~= nil then
    table.insert(parts, "next at " .. tostring(status.nextScheduleTime))
  end
  if status.active ~= nil and #status.active > 0 then
    table.insert(parts, tostring(#status.active) .. " active")
  end
  if status.lastSuccessfulTime ~= nil then
    table.insert(parts, "last success at " .. tostring(status.lastSuccessfulTime))
  end
  return table.concat(parts, "; ")
end

local spec = obj.spec or {}
local status = obj.status or {}

-- spec.suspend is enough: a suspended schedule starts nothing whether or not the operator has seen it yet.
if spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: " .. summary(status)
  return hs
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick up the schedule"
  return hs
end

-- Conditions written for an older spec say nothing about the current one.
local generation = obj.metadata ~= nil and obj.metadata.generation or nil
local observed = status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    .. " (status is for generation " .. tostring(observed) .. ")"
  return hs
end

if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if BROKEN[condition.type] and condition.status == "True" then
      hs.status = "Degraded"
      hs.message = tostring(condition.type)
      if condition.reason ~= nil and condition.reason ~= "" then
        hs.message = hs.message .. " (" .. tostring(condition.reason) .. ")"
      end
      if condition.message ~= nil and condition.message ~= "" then
        hs.message = hs.message .. ": " .. tostring(condition.message)
      end
      return hs
    end
  end
end

hs.status = "Healthy"
hs.message = "Scheduling: " .. summary(status)
return hs
