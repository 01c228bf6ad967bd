-- oop.lua: classes and inheritance via metatables, super calls, mixins, tostring
local Animal = {} Animal.__index = Animal
function Animal.new(name, sound) local self = setmetatable({}, Animal) self.name, self.sound = name, sound return self end
function Animal:speak() return self.name .. " says " .. self.sound end
function Animal:__tostring() return "Animal(" .. self.name .. ")" end
Animal.__tostring = Animal.__tostring
local Dog = setmetatable({}, { __index = Animal }) Dog.__index = Dog Dog.__tostring = Animal.__tostring
function Dog.new(name) local self = Animal.new(name, "woof") return setmetatable(self, Dog) end
function Dog:speak() return Animal.speak(self) .. "!" end
function Dog:fetch() return self.name .. " fetches" end
local a, d = Animal.new("cat", "meow"), Dog.new("rex")
print(a:speak(), d:speak(), d:fetch(), tostring(d), getmetatable(d) == Dog)
local Stack = {} Stack.__index = Stack
function Stack.new() return setmetatable({ items = {}, size = 0 }, Stack) end
function Stack:push(v) self.size = self.size + 1 self.items[self.size] = v return self end
function Stack:pop() local v = self.items[self.size] self.items[self.size] = nil self.size = self.size - 1 return v end
local s = Stack.new() for i = 1, 100 do s:push(i * i) end
local acc = 0 while s.size > 0 do acc = acc + s:pop() end
print(acc)
local Account = { balance = 0 }
function Account:new(o) o = o or {} setmetatable(o, self) self.__index = self return o end
function Account:deposit(v) self.balance = self.balance + v end
function Account:withdraw(v) if v > self.balance then error("insufficient funds") end self.balance = self.balance - v end
local acct = Account:new() acct:deposit(100) acct:withdraw(30)
print(acct.balance, Account.balance, pcall(acct.withdraw, acct, 1000))
local Special = Account:new() function Special:getLimit() return self.limit or 0 end
local sp = Special:new({ limit = 500 }) sp:deposit(10)
print(sp.balance, sp:getLimit(), getmetatable(sp) == Special)
local shapes = {}
local Shape = {} Shape.__index = Shape
function Shape:area() return 0 end
local Rect = setmetatable({}, Shape) Rect.__index = Rect
function Rect.new(w, h) return setmetatable({ w = w, h = h }, Rect) end
function Rect:area() return self.w * self.h end
for i = 1, 50 do shapes[i] = Rect.new(i, i + 1) end
local total = 0 for _, sh in ipairs(shapes) do total = total + sh:area() end
print(total)
