-- group: program
-- constraint.lua -- a constraint solver: N-queens by backtracking search
-- with forward checking, where every assignment copies the remaining
-- domains into fresh tables (as a general CSP solver does).  Arg 1 scales
-- the number of boards; each count of solutions must match the known
-- sequence (OEIS A000170) and every solution is verified, else an error.
local scale = tonumber(arg and arg[1]) or 1
local KNOWN = { [4] = 2, [5] = 10, [6] = 4, [7] = 40, [8] = 92, [9] = 352 }

-- domains[r] is a set {col = true} of the columns still allowed in row r.
local function propagate(domains, n, row, col)
  local out = {}
  for r = row + 1, n do
    local d, nd, any = domains[r], {}, false
    local off = r - row
    for c in pairs(d) do
      if c ~= col and c ~= col + off and c ~= col - off then nd[c] = true; any = true end
    end
    if not any then return nil end
    out[r] = nd
  end
  return out
end

local function valid(board, n)
  for i = 1, n do
    for j = i + 1, n do
      if board[i] == board[j] or math.abs(board[i] - board[j]) == j - i then return false end
    end
  end
  return true
end

local function solve(n)
  local domains = {}
  for r = 1, n do
    domains[r] = {}
    for c = 1, n do domains[r][c] = true end
  end
  local count, board, sum = 0, {}, 0
  local function search(row, doms)
    if row > n then
      if not valid(board, n) then error("invalid solution") end
      count = count + 1
      sum = sum + board[1] * n + board[n]
      return
    end
    local cols = {}
    for c in pairs(doms[row]) do cols[#cols + 1] = c end
    table.sort(cols)
    for _, c in ipairs(cols) do
      board[row] = c
      local nd = row == n and {} or propagate(doms, n, row, c)
      if nd then search(row + 1, nd) end
    end
    board[row] = nil
  end
  search(1, domains)
  return count, sum
end

local rounds = math.max(1, math.floor(40 * scale))
local total = 0
for r = 1, rounds do
  for n = 4, 9 do
    if n < 9 or r % 3 == 1 then
      local count, sum = solve(n)
      if count ~= KNOWN[n] then error(("%d-queens: %d solutions, expected %d"):format(n, count, KNOWN[n])) end
      total = total + count + sum
    end
  end
end
return total
