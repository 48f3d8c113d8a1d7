-- POST /api/tasks with a varied title, so the predictor sees varied features.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local titles = {
  "write the quarterly report",
  "fix the login bug asap",
  "urgent: renew the TLS certificate today",
  "tidy the wiki",
  "critical blocker in checkout, fix now",
  "plan the team offsite",
}
local n = 0

function request()
  n = n + 1
  local body = string.format(
    '{"title": "%s #%d", "due_in_days": %d, "estimated_hours": %.1f}',
    titles[n % #titles + 1], n, n % 14, (n % 16) / 2 + 0.5)
  return wrk.format(nil, nil, nil, body)
end
