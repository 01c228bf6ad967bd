-- interpreter.lua: a small tokenizer, parser and evaluator for arithmetic
-- with variables and functions (recursive descent, closures, tables)
local function tokenize(src)
  local toks, i = {}, 1
  while i <= #src do
    local c = src:sub(i, i)
    if c:match("%s") then i = i + 1
    elseif c:match("%d") then local n = src:match("^%d+%.?%d*", i) toks[#toks + 1] = { "num", tonumber(n) } i = i + #n
    elseif c:match("[%a_]") then local w = src:match("^[%w_]+", i) toks[#toks + 1] = { "id", w } i = i + #w
    else toks[#toks + 1] = { "op", c } i = i + 1 end
  end
  return toks
end
local function parse(toks)
  local pos = 1
  local function peek() return toks[pos] end
  local function take() pos = pos + 1 return toks[pos - 1] end
  local expr
  local function atom()
    local t = take()
    if t[1] == "num" then return { "num", t[2] }
    elseif t[1] == "id" then
      if peek() and peek()[2] == "(" then take() local a = expr() take() return { "call", t[2], a } end
      return { "var", t[2] }
    elseif t[2] == "(" then local e = expr() take() return e
    elseif t[2] == "-" then return { "neg", atom() } end
    error("unexpected " .. tostring(t[2]))
  end
  local function term()
    local l = atom()
    while peek() and (peek()[2] == "*" or peek()[2] == "/" or peek()[2] == "%") do l = { take()[2], l, atom() } end
    return l
  end
  function expr()
    local l = term()
    while peek() and (peek()[2] == "+" or peek()[2] == "-") do l = { take()[2], l, term() } end
    return l
  end
  local stmts = {}
  while pos <= #toks do
    if toks[pos + 1] and toks[pos + 1][2] == "=" then local name = take()[2] take() stmts[#stmts + 1] = { "set", name, expr() }
    else stmts[#stmts + 1] = { "print", expr() } end
    if peek() and peek()[2] == ";" then take() end
  end
  return stmts
end
local funcs = { sq = function(x) return x * x end, abs = math.abs, fact = function(n) local r = 1 for i = 2, n do r = r * i end return r end }
local function eval(node, env)
  local k = node[1]
  if k == "num" then return node[2] elseif k == "var" then return env[node[2]] or error("undefined " .. node[2])
  elseif k == "neg" then return -eval(node[2], env)
  elseif k == "call" then return funcs[node[2]](eval(node[3], env))
  elseif k == "+" then return eval(node[2], env) + eval(node[3], env)
  elseif k == "-" then return eval(node[2], env) - eval(node[3], env)
  elseif k == "*" then return eval(node[2], env) * eval(node[3], env)
  elseif k == "/" then return eval(node[2], env) / eval(node[3], env)
  elseif k == "%" then return eval(node[2], env) % eval(node[3], env) end
end
local prog = "x = 3; y = x * (4 + 2); y - 1; sq(y) % 7; fact(10) / 100; z = -x + abs(-17); z * z"
local env = {}
for _, st in ipairs(parse(tokenize(prog))) do
  if st[1] == "set" then env[st[2]] = eval(st[3], env) else print(eval(st[2], env)) end
end
local total = 0
for i = 1, 300 do
  local e = {}
  for _, st in ipairs(parse(tokenize("a = " .. i .. "; b = a * a + " .. (i % 7) .. "; b % 1000"))) do
    if st[1] == "set" then e[st[2]] = eval(st[3], e) else total = total + eval(st[2], e) end
  end
end
print(total, pcall(eval, { "var", "nope" }, {}))
