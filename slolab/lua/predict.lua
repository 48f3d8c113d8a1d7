-- POST /predict with varied features (the body a task creation sends).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local n = 0

function request()
  n = n + 1
  local body = string.format(
    '{"title_length": %d, "urgent_words": %d, "due_in_days": %d, "estimated_hours": %.1f}',
    10 + n % 60, n % 3, n % 14, (n % 16) / 2 + 0.5)
  return wrk.format(nil, nil, nil, body)
end
