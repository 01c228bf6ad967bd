-- group: program
-- oop_sim.lua -- an object-oriented simulation with many small objects:
-- classes with metatables and inheritance (Account, SavingsAccount), a Bank
-- that makes a Transfer record and two Entry objects per transfer, and a
-- Vec2 value class for branch positions.  Arg 1 scales the work; money must
-- be conserved and every ledger must balance, else an error is raised.
local scale = tonumber(arg and arg[1]) or 1

local function class(parent)
  local c = {}
  c.__index = c
  if parent then setmetatable(c, { __index = parent }) end
  c.new = function(...)
    local o = setmetatable({}, c)
    o:init(...)
    return o
  end
  return c
end

local Vec2 = class()
function Vec2:init(x, y) self.x, self.y = x, y end
Vec2.__add = function(a, b) return Vec2.new(a.x + b.x, a.y + b.y) end
Vec2.__sub = function(a, b) return Vec2.new(a.x - b.x, a.y - b.y) end
function Vec2:len2() return self.x * self.x + self.y * self.y end

local Entry = class()
function Entry:init(account, amount, ref) self.account, self.amount, self.ref = account, amount, ref end

local Account = class()
function Account:init(id, balance, where)
  self.id, self.balance, self.where, self.entries = id, balance, where, {}
end
function Account:post(amount, ref)
  self.balance = self.balance + amount
  local e = self.entries
  e[#e + 1] = Entry.new(self, amount, ref)
  if #e > 32 then self:compact() end
end
-- Fold old entries into one opening entry, as a ledger closes a period.
function Account:compact()
  local sum = 0
  for i = 1, #self.entries do sum = sum + self.entries[i].amount end
  self.opening = (self.opening or 0) + sum
  self.entries = {}
end
function Account:fee() return 0 end

local Savings = class(Account)
function Savings:init(id, balance, where, rate)
  Account.init(self, id, balance, where)
  self.rate = rate
end
function Savings:fee() return self.balance > 1000 and 1 or 0 end

local Transfer = class()
function Transfer:init(n, from, to, amount) self.n, self.from, self.to, self.amount = n, from, to, amount end

local Bank = class()
function Bank:init(n)
  self.accounts, self.initial, self.fees, self.log = {}, 0, 0, {}
  for i = 1, n do
    local where = Vec2.new(i % 17, i % 23)
    local a = i % 3 == 0 and Savings.new(i, 1000 + i, where, 0.01) or Account.new(i, 1000 + i, where)
    self.accounts[i] = a
    self.initial = self.initial + a.balance
  end
end
function Bank:transfer(n, from, to, amount)
  if from.balance < amount then return false end
  local t = Transfer.new(n, from, to, amount)
  local fee = from:fee()
  from:post(-amount - fee, t)
  to:post(amount, t)
  self.fees = self.fees + fee
  local log = self.log
  log[#log + 1] = t
  if #log > 256 then self.log = {} end
  return true
end
function Bank:total()
  local s = 0
  for _, a in ipairs(self.accounts) do s = s + a.balance end
  return s
end

local n_acc = 2000
local bank = Bank.new(n_acc)
local steps = math.floor(100000 * scale)
local seed, done, dist = 12345, 0, 0
for n = 1, steps do
  seed = (seed * 1103515245 + 12345) % 2147483648
  local a = bank.accounts[seed % n_acc + 1]
  local b = bank.accounts[(seed >> 11) % n_acc + 1]
  if a ~= b then
    local d = a.where - b.where              -- a temporary Vec2 per transfer
    dist = dist + (d + Vec2.new(1, 1)):len2() % 7
    if bank:transfer(n, a, b, seed % 50 + 1) then done = done + 1 end
  end
end
-- Money is conserved (fees leave the accounts), and each account's opening
-- balance plus its entries equals its balance.
if bank:total() + bank.fees ~= bank.initial then error("money not conserved") end
for i, a in ipairs(bank.accounts) do
  local s = 1000 + i + (a.opening or 0)
  for _, e in ipairs(a.entries) do s = s + e.amount end
  if s ~= a.balance then error("ledger of account " .. i .. " does not balance") end
end
return done + bank.fees + dist
